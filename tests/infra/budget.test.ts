/**
 * The PostgreSQL connection budget (infra/app/connection-budget.bicep), evaluated from the parsed
 * template for given parameters, and carried through main.bicep into the PgBouncer server
 * parameters (postgres.bicep) and the app settings (functionapp.bicep).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as config from '../../shared/config';
import { readFileSync } from 'node:fs';
import { loadBicep, objectEntries, stringValue, type BicepFile, type Node, typeScriptSources } from './bicep';

let budget: BicepFile;
let main: BicepFile;
let postgres: BicepFile;
let functionApp: BicepFile;
let settings: Map<string, Node>;

beforeAll(async () => {
  [budget, main, postgres, functionApp] = (await Promise.all(
    ['infra/app/connection-budget.bicep', 'infra/main.bicep', 'infra/app/postgres.bicep', 'infra/app/functionapp.bicep'].map((f) => loadBicep(f)),
  )) as [BicepFile, BicepFile, BicepFile, BicepFile];
  const cfg = functionApp.resourcesOfType('Microsoft.Web/sites/config').find((r) => stringValue(functionApp.get(r.body, 'name')) === 'appsettings')!;
  settings = objectEntries(functionApp.get(cfg.body, 'properties'));
});

type Outputs = Record<string, unknown>;
function outputs(params: Record<string, unknown>): Outputs {
  const out: Outputs = {};
  for (const [name, o] of budget.outputs) out[name] = budget.evaluate(o.value, params);
  return out;
}

/** The app settings functionapp.bicep derives from the budget's outputs, through main.bicep's wiring. */
function appSettings(o: Outputs): Record<string, unknown> {
  const fnParams = objectEntries(main.get(main.module('functionApp').body, 'params'));
  const params: Record<string, unknown> = {};
  for (const [param, value] of fnParams) {
    const m = /^connectionBudget\.outputs\.(\w+)$/.exec(value.text);
    if (m) params[param] = o[m[1]!];
  }
  const out: Record<string, unknown> = {};
  for (const name of ['POSTGRES_PORT', 'POSTGRES_POOL_MAX', 'POSTGRES_POOL_MODE']) out[name] = functionApp.evaluate(settings.get(name), params);
  return out;
}

const B1ms = { skuName: 'Standard_B1ms', skuTier: 'Burstable' };
const B2s = { skuName: 'Standard_B2s', skuTier: 'Burstable' };
const D2ds = { skuName: 'Standard_D2ds_v5', skuTier: 'GeneralPurpose' };

describe('connection budget (infra/app/connection-budget.bicep)', () => {
  it('holds max_connections per SKU from the limits page', () => {
    const skus = budget.evaluate(budget.vars.get('skus')) as Record<string, { vCores: number; maxConnections: number }>;
    expect(skus.Standard_B1ms).toEqual({ vCores: 1, maxConnections: 50 });
    expect(skus.Standard_B2s).toEqual({ vCores: 2, maxConnections: 429 });
    expect(skus.Standard_D2ds_v5).toEqual({ vCores: 2, maxConnections: 859 });
    expect(skus.Standard_E2ds_v5).toEqual({ vCores: 2, maxConnections: 1718 });
    expect(skus.Standard_D96ds_v5?.maxConnections).toBe(5000);
    expect(Object.keys(skus).length).toBeGreaterThan(60);
    expect(budget.evaluate(budget.vars.get('reservedConnections'))).toBe(15);
    // main.bicep's default SKU is in the table.
    expect(main.evaluate(main.param('postgresSkuName').defaultValue) as string in skus).toBe(true);
  });

  it.each([
    // sku, maximumInstanceCount, poolMax, instances (2 scale groups x the limit + 4 timers), budget, fits
    [B1ms, 10, 1, 24, 30, true],
    [B1ms, 40, 1, 84, 30, false],
    [B1ms, 100, 1, 204, 30, false],
    [B2s, 10, 8, 24, 409, true],
    [B2s, 40, 4, 84, 409, true],
    [B2s, 100, 2, 204, 409, true],
    [D2ds, 10, 8, 24, 4995, true],
    [D2ds, 40, 8, 84, 4995, true],
    [D2ds, 100, 8, 204, 4995, true],
  ])('%o with maximumInstanceCount %i: pool %i per instance', (sku, maximumInstanceCount, poolMax, instances, connectionBudget, fits) => {
    const o = outputs({ ...sku, maximumInstanceCount });
    expect(o).toMatchObject({ poolMax, instances, connectionBudget, fits, worstCaseConnections: poolMax * instances });
    expect(o.poolMax as number).toBeGreaterThanOrEqual(1);
  });

  it('Burstable: no PgBouncer, port 5432, no pool mode; the budget is the server\'s user connections less the headroom', () => {
    const o = outputs({ ...B1ms, maximumInstanceCount: 10 });
    expect(o).toMatchObject({ pgbouncerEnabled: false, port: 5432, poolMode: '', appRoleConnectionLimit: 30 });
    expect(appSettings(o)).toEqual({ POSTGRES_PORT: '5432', POSTGRES_POOL_MAX: '1', POSTGRES_POOL_MODE: '' });
    expect(outputs({ ...B1ms, maximumInstanceCount: 10, headroomConnections: 0 }).connectionBudget).toBe(35);
  });

  it.each([
    ['GeneralPurpose', 'Standard_D2ds_v5', 10],
    ['MemoryOptimized', 'Standard_E4ds_v5', 20],
  ])('%s: PgBouncer on, port 6432, transaction pooling; the budget is PgBouncer\'s client limit', (skuTier, skuName, poolSize) => {
    const o = outputs({ skuName, skuTier, maximumInstanceCount: 40 });
    expect(o).toMatchObject({ pgbouncerEnabled: true, port: 6432, poolMode: 'transaction', pgbouncerMaxClientConn: 5000, pgbouncerDefaultPoolSize: poolSize });
    expect(appSettings(o)).toEqual({ POSTGRES_PORT: '6432', POSTGRES_POOL_MAX: '8', POSTGRES_POOL_MODE: 'transaction' });
    expect(outputs({ skuName, skuTier, maximumInstanceCount: 40, pgbouncerMaxClientConn: 300 })).toMatchObject({ connectionBudget: 295, poolMax: 3 });
  });

  it('the settings it produces are accepted by the code', () => {
    for (const o of [outputs({ ...B1ms, maximumInstanceCount: 10 }), outputs({ ...D2ds, maximumInstanceCount: 100 })]) {
      const env = Object.fromEntries(Object.entries(appSettings(o)).map(([k, v]) => [k, String(v)]));
      expect(config.postgresPoolMax(env)).toBe(o.poolMax);
      expect(config.postgresTransactionPooling(env)).toBe(o.poolMode === 'transaction');
      const db = config.databaseSettings({ ...env, POSTGRES_HOST: 'h', POSTGRES_DATABASE: 'medallion', POSTGRES_USER: 'id-medallion-x' });
      expect(db).toMatchObject({ kind: 'entra', port: o.port, poolMax: o.poolMax });
    }
  });

  it('main.bicep feeds it the SKU and the scale-out limit, and hands its outputs to PostgreSQL and the app', () => {
    const p = objectEntries(main.get(main.module('connectionBudget').body, 'params'));
    expect(p.get('skuName')?.text).toBe('postgresSkuName');
    expect(p.get('skuTier')?.text).toBe('postgresSkuTier');
    expect(p.get('maximumInstanceCount')?.text).toBe('maximumInstanceCount');
    const pg = objectEntries(main.get(main.module('postgres').body, 'params'));
    expect(pg.get('pgbouncerEnabled')?.text).toBe('connectionBudget.outputs.pgbouncerEnabled');
    expect(pg.get('pgbouncerDefaultPoolSize')?.text).toBe('connectionBudget.outputs.pgbouncerDefaultPoolSize');
    expect(pg.get('pgbouncerMaxClientConn')?.text).toBe('connectionBudget.outputs.pgbouncerMaxClientConn');
    expect(main.outputs.get('POSTGRES_APP_CONNECTION_LIMIT')?.value.text).toBe('connectionBudget.outputs.appRoleConnectionLimit');
  });

  it('postgres.bicep sets the PgBouncer server parameters only when enabled', () => {
    const r = postgres.resource('pgbouncer');
    expect(r.condition?.text).toBe('(pgbouncerEnabled)');
    expect(r.loop).toBeDefined();
    const params = postgres.evaluate(postgres.vars.get('pgbouncerParameters'), { pgbouncerDefaultPoolSize: 10, pgbouncerMaxClientConn: 5000 });
    expect(params).toEqual([
      { name: 'pgbouncer.enabled', value: 'true' },
      { name: 'pgbouncer.pool_mode', value: 'transaction' },
      { name: 'pgbouncer.default_pool_size', value: '10' },
      { name: 'pgbouncer.max_client_conn', value: '5000' },
    ]);
    expect(postgres.evaluate(postgres.get(r.body, 'properties', 'source'))).toBe('user-override');
  });

  it('counts every timer function of the app and every non-timer trigger as a scale group', async () => {
    const sources = typeScriptSources('functions').map((f: string) => readFileSync(f, 'utf8')).join('\n');
    const timers = [...sources.matchAll(/app\.timer\(/g)].length;
    const scaled = new Set([...sources.matchAll(/app\.(storageBlob|eventHub|http|serviceBusQueue|storageQueue)\(/g)].map((m) => (m[1] === 'storageBlob' ? 'blob' : m[0])));
    expect(budget.evaluate(budget.param('timerFunctionCount').defaultValue) as number).toBeGreaterThanOrEqual(timers);
    expect(budget.evaluate(budget.param('scaleOutGroups').defaultValue) as number).toBeGreaterThanOrEqual(scaled.size);
  });
});
