/**
 * The app settings the Bicep sets on the function app and the settings the code reads
 * (shared/config.ts SETTINGS) must agree: a name set by the Bicep that the code does not read is a
 * typo or dead configuration, and a required Azure-mode setting the Bicep does not set breaks the
 * app at run time.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as config from '../../shared/config';
import { loadBicep, objectEntries, stringValue, typeScriptSources, type BicepFile, type Node } from './bicep';

const { SETTINGS } = config;

/** Settings consumed by the Functions host / platform rather than by the platform's code. */
const HOST_SETTING = [/^AzureWebJobsStorage__/, /^FUNCTIONS_/, /^APPLICATIONINSIGHTS_/, /^WEBSITE_/, /^AzureFunctionsJobHost__/];

/** What the code needs in Azure mode (identity-based connections, Entra token for PostgreSQL). */
const REQUIRED_AZURE_SETTINGS = [
  'LakeStorage__accountName',
  'LakeStorage__blobServiceUri',
  'LakeStorage__queueServiceUri',
  'LakeStorage__credential',
  'LakeStorage__clientId',
  'EventHubConnection__fullyQualifiedNamespace',
  'EventHubConnection__credential',
  'EventHubConnection__clientId',
  'EVENTHUB_NAME',
  'EVENTHUB_CONSUMER_GROUP',
  'POSTGRES_HOST',
  'POSTGRES_DATABASE',
  'POSTGRES_USER',
  'AZURE_CLIENT_ID',
  'GOLD_REFRESH_SCHEDULE',
];

/** App settings a Flex Consumption app must not carry (deprecated or rejected on the plan). */
const FLEX_DEPRECATED = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
];

let functionApp: BicepFile;
let main: BicepFile;
let settings: Map<string, Node>;

beforeAll(async () => {
  functionApp = await loadBicep('infra/app/functionapp.bicep');
  main = await loadBicep('infra/main.bicep');
  const configs = functionApp.resourcesOfType('Microsoft.Web/sites/config').filter((r) => stringValue(functionApp.get(r.body, 'name')) === 'appsettings');
  expect(configs).toHaveLength(1);
  settings = objectEntries(functionApp.get(configs[0]!.body, 'properties'));
});

function codeSettingNames(): Set<string> {
  return new Set(Object.values(SETTINGS));
}

describe('function app settings (infra/app/functionapp.bicep) vs shared/config.ts', () => {
  it('the app settings object is found and not empty', () => {
    expect(settings.size).toBeGreaterThan(REQUIRED_AZURE_SETTINGS.length);
  });

  it('every non-host setting the Bicep sets is read by the code (a value of SETTINGS)', () => {
    const known = codeSettingNames();
    const stray = [...settings.keys()].filter((k) => !HOST_SETTING.some((re) => re.test(k)) && !known.has(k as never));
    expect(stray).toEqual([]);
  });

  it('every required Azure-mode setting is set, and each is a SETTINGS value', () => {
    const known = codeSettingNames();
    for (const name of REQUIRED_AZURE_SETTINGS) {
      expect(known.has(name as never), `${name} missing from SETTINGS in shared/config.ts`).toBe(true);
      expect(settings.has(name), `${name} not set by functionapp.bicep`).toBe(true);
    }
  });

  it('no connection-string setting is set: the identity-based ones must win', () => {
    for (const name of [SETTINGS.lakeConnection, SETTINGS.eventHubConnection, SETTINGS.databaseUrl, 'AzureWebJobsStorage']) {
      expect(settings.has(name), `${name} would carry a secret`).toBe(false);
    }
    for (const [name, value] of settings) {
      expect(value.text, name).not.toMatch(/AccountKey=|SharedAccessKey|Password=|listKeys|connectionString\(/i);
    }
  });

  it('identity-based connections use the managed identity and its client id', () => {
    for (const prefix of ['AzureWebJobsStorage', SETTINGS.lakeConnection, SETTINGS.eventHubConnection]) {
      expect(functionApp.evaluate(settings.get(`${prefix}__credential`)), prefix).toBe('managedidentity');
      expect(settings.get(`${prefix}__clientId`)?.text, prefix).toBe('identityClientId');
    }
    expect(settings.get('AZURE_CLIENT_ID')?.text).toBe('identityClientId');
    expect(settings.get('AzureWebJobsStorage__accountName')?.text).toBe('hostStorage.name');
    expect(settings.get(SETTINGS.lakeAccountName)?.text).toBe('lakeAccountName');
  });

  it('Application Insights ingestion is Entra-authenticated with the app identity', () => {
    expect(settings.has('APPLICATIONINSIGHTS_CONNECTION_STRING')).toBe(true);
    const auth = settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
    expect(auth?.type).toBe('string');
    expect(auth?.text).toContain('Authorization=AAD');
    expect(auth?.text).toContain('ClientId=${identityClientId}');
  });

  it('no setting deprecated on Flex Consumption is set', () => {
    for (const name of FLEX_DEPRECATED) expect(settings.has(name), name).toBe(false);
    const site = functionApp.resourcesOfType('Microsoft.Web/sites')[0]!;
    expect(functionApp.get(site.body, 'properties', 'siteConfig', 'appSettings'), 'settings live in one place').toBeUndefined();
  });

  it('PostgreSQL user is the application role named after the identity, which is not the Entra administrator', () => {
    const fnParams = objectEntries(main.get(main.module('functionApp').body, 'params'));
    const pgParams = objectEntries(main.get(main.module('postgres').body, 'params'));
    expect(fnParams.get('postgresUser')?.text).toBe('identity.outputs.name');
    expect(settings.get(SETTINGS.postgresUser)?.text).toBe('postgresUser');
    expect(pgParams.get('administratorPrincipalName')?.text).not.toContain('identity.');
    expect(pgParams.get('administratorObjectId')?.text).not.toContain('identity.');
    expect(main.outputs.get('POSTGRES_USER')?.value.text).toBe('identity.outputs.name');
    expect(main.outputs.get('AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID')?.value.text).toBe('identity.outputs.principalId');
  });

  it('health checks, file attempts and the connection budget are app settings, wired from main.bicep', () => {
    const fnParams = objectEntries(main.get(main.module('functionApp').body, 'params'));
    const wiring: Array<[string, string, string]> = [
      [SETTINGS.healthCheckSchedule, 'healthCheckSchedule', 'healthCheckSchedule'],
      [SETTINGS.healthQuarantineRate, 'healthQuarantineRate', 'healthQuarantineRate'],
      [SETTINGS.maxFileAttempts, 'string(maxFileAttempts)', 'maxFileAttempts'],
      [SETTINGS.postgresPort, 'string(postgresPort)', 'connectionBudget.outputs.port'],
      [SETTINGS.postgresPoolMax, 'string(postgresPoolMax)', 'connectionBudget.outputs.poolMax'],
      [SETTINGS.postgresPoolMode, 'postgresPoolMode', 'connectionBudget.outputs.poolMode'],
    ];
    for (const [setting, expression, fromMain] of wiring) {
      expect(settings.get(setting)?.text, setting).toBe(expression);
      const param = /(\w+)\)?$/.exec(expression)![1]!;
      expect(fnParams.get(param)?.text, `main.bicep -> functionapp ${param}`).toBe(fromMain);
    }
  });

  it('defaults in the Bicep match the defaults in the code', () => {
    expect(main.evaluate(main.param('goldRefreshSchedule').defaultValue)).toBe(config.goldRefreshSchedule({}));
    expect(main.evaluate(main.param('customersLatenessMinutes').defaultValue)).toBe(config.customersLatenessMinutes({}));
    expect(main.evaluate(main.param('goldShowPii').defaultValue)).toBe(config.goldShowPii({}));
    for (const file of [main, functionApp]) {
      expect(file.evaluate(file.param('healthCheckSchedule').defaultValue), file.relPath).toBe(config.healthCheckSchedule({}));
      expect(Number(file.evaluate(file.param('healthQuarantineRate').defaultValue)), file.relPath).toBe(config.healthQuarantineRate({}));
      expect(file.evaluate(file.param('maxFileAttempts').defaultValue), file.relPath).toBe(config.maxFileAttempts({}));
    }
    // What the Bicep sets is accepted by the code.
    expect(config.healthQuarantineRate({ [SETTINGS.healthQuarantineRate]: String(main.evaluate(main.param('healthQuarantineRate').defaultValue)) })).toBe(0.05);
    expect(main.evaluate(main.param('postgresDatabaseName').defaultValue)).toBe('medallion');
    expect(main.evaluate(main.vars.get('customersEventHubName'))).toBe('customers');
  });

  it('the configuration module accepts what the Bicep sets (identity mode for lake, Event Hubs, PostgreSQL)', () => {
    const env: Record<string, string> = {
      [SETTINGS.lakeAccountName]: 'stlakeabcdefghijklm',
      [SETTINGS.lakeBlobServiceUri]: 'https://stlakeabcdefghijklm.blob.core.windows.net/',
      [SETTINGS.lakeQueueServiceUri]: 'https://stlakeabcdefghijklm.queue.core.windows.net/',
      [SETTINGS.lakeCredential]: 'managedidentity',
      [SETTINGS.lakeClientId]: '00000000-0000-0000-0000-000000000001',
      [SETTINGS.eventHubNamespace]: 'evhns-medallion-abc.servicebus.windows.net',
      [SETTINGS.eventHubCredential]: 'managedidentity',
      [SETTINGS.eventHubClientId]: '00000000-0000-0000-0000-000000000001',
      [SETTINGS.eventHubName]: 'customers',
      [SETTINGS.eventHubConsumerGroup]: 'medallion',
      [SETTINGS.postgresHost]: 'psql-medallion-abc.postgres.database.azure.com',
      [SETTINGS.postgresDatabase]: 'medallion',
      [SETTINGS.postgresUser]: 'id-medallion-abc',
      [SETTINGS.azureClientId]: '00000000-0000-0000-0000-000000000001',
      [SETTINGS.goldRefreshSchedule]: '0 30 2 * * *',
    };
    // Every key of this sample is a setting the Bicep sets.
    for (const key of Object.keys(env)) expect(settings.has(key), key).toBe(true);
    expect(config.lakeSettings(env)).toMatchObject({ kind: 'identity', accountName: 'stlakeabcdefghijklm' });
    expect(config.eventHubSettings(env)).toMatchObject({ kind: 'identity', hubName: 'customers', consumerGroup: 'medallion' });
    expect(config.databaseSettings(env)).toMatchObject({ kind: 'entra', user: 'id-medallion-abc', database: 'medallion' });
  });

  it('storage account names generated by main.bicep pass the code\'s account-name check', () => {
    // 'stlake' + uniqueString() (13 lowercase alphanumerics) = 19 characters.
    const lakeName = main.get(main.vars.get('names'), 'lake');
    expect(lakeName?.text).toBe("'stlake${resourceToken}'");
    expect(config.lakeSettings({ [SETTINGS.lakeAccountName]: `stlake${'a1'.repeat(6)}b` })).toMatchObject({ kind: 'identity' });
  });
});

describe('bindings in functions/ resolve to settings the Bicep sets', () => {
  const sources = typeScriptSources('functions').map((f) => readFileSync(f, 'utf8'));

  it('every %SETTING% placeholder in a binding is an app setting', () => {
    const placeholders = new Set(sources.flatMap((s) => [...s.matchAll(/['"`]%([A-Za-z0-9_]+)%['"`]/g)].map((m) => m[1]!)));
    for (const name of placeholders) expect(settings.has(name), `%${name}% used by a binding`).toBe(true);
    // The triggers the platform is built around read these (see the function registrations).
    for (const name of [SETTINGS.eventHubName, SETTINGS.eventHubConsumerGroup, SETTINGS.goldRefreshSchedule]) {
      expect(settings.has(name)).toBe(true);
    }
  });

  it('every binding connection has identity-based settings', () => {
    const connections = new Set(sources.flatMap((s) => [...s.matchAll(/connection:\s*['"]([A-Za-z0-9_]+)['"]/g)].map((m) => m[1]!)));
    for (const c of [...connections, SETTINGS.lakeConnection, SETTINGS.eventHubConnection]) {
      const keys = [...settings.keys()].filter((k) => k.startsWith(`${c}__`));
      expect(keys.length, `connection ${c}`).toBeGreaterThan(0);
      expect(settings.has(`${c}__credential`), `connection ${c}`).toBe(true);
    }
  });
});

