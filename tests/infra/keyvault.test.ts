/**
 * The Key Vault of the SaaS API tokens (infra/app/keyvault.bicep) and its wiring: RBAC-only vault,
 * the app identity may read secret values and nothing more, the deployer may optionally set them,
 * the app settings reference the vault (no token value anywhere in the templates), the app
 * resolves references as its user-assigned identity, and the extraction settings and the
 * extract-failure alert are in place.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as config from '../../shared/config';
import { calls, descriptionOf, loadBicep, objectEntries, stringValue, type BicepFile, type Node, type Resource } from './bicep';

const { SETTINGS } = config;

const ROLE = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
};

let kv: BicepFile;
let main: BicepFile;
let functionApp: BicepFile;
let monitoring: BicepFile;
let settings: Map<string, Node>;

beforeAll(async () => {
  [kv, main, functionApp, monitoring] = (await Promise.all(['infra/app/keyvault.bicep', 'infra/main.bicep', 'infra/app/functionapp.bicep', 'infra/app/monitoring.bicep'].map((f) => loadBicep(f)))) as [
    BicepFile,
    BicepFile,
    BicepFile,
    BicepFile,
  ];
  const cfg = functionApp.resourcesOfType('Microsoft.Web/sites/config').find((r) => stringValue(functionApp.get(r.body, 'name')) === 'appsettings')!;
  expect(objectEntries(cfg.body).get('properties')?.text).toBe('appSettings');
  settings = objectEntries(functionApp.vars.get('appSettings')!);
});

function vault(): Resource {
  const found = kv.resourcesOfType('Microsoft.KeyVault/vaults').filter((r) => !r.existing);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function roleOf(r: Resource): string {
  const def = kv.get(r.body, 'properties', 'roleDefinitionId')!;
  const arg = calls(def, 'subscriptionResourceId')[0]!.childForFieldName('arguments')!.namedChildren.filter((a) => a !== null)[1]!;
  const m = /^roles\.(\w+)$/.exec(arg.text);
  return m ? (kv.evaluate(kv.get(kv.vars.get('roles'), m[1]!)) as string) : arg.text;
}

describe('the vault (infra/app/keyvault.bicep)', () => {
  it('is a standard vault in this tenant with Azure RBAC authorization (no access policies) and soft delete', () => {
    const v = vault();
    const value = (...k: string[]) => kv.evaluate(kv.get(v.body, 'properties', ...k));
    expect(value('enableRbacAuthorization')).toBe(true);
    expect(value('enableSoftDelete')).toBe(true);
    expect(value('sku')).toEqual({ family: 'A', name: 'standard' });
    expect(kv.get(v.body, 'properties', 'tenantId')?.text).toBe('tenant().tenantId');
    expect(kv.get(v.body, 'properties', 'accessPolicies')).toBeUndefined();
    for (const k of ['enabledForDeployment', 'enabledForTemplateDeployment', 'enabledForDiskEncryption']) expect(value(k), k).toBe(false);
    expect(kv.get(v.body, 'properties', 'softDeleteRetentionInDays')?.text).toBe('softDeleteRetentionInDays');
  });

  it('purge protection is a parameter, off by default (azd down --purge must be able to remove the vault), never set to false explicitly', () => {
    expect(kv.evaluate(kv.param('enablePurgeProtection').defaultValue)).toBe(false);
    expect(descriptionOf(kv.param('enablePurgeProtection').decorators)).toMatch(/azd down --purge/);
    expect(kv.get(vault().body, 'properties', 'enablePurgeProtection')?.text).toBe('enablePurgeProtection ? true : null');
    expect(objectEntries(main.get(main.module('keyVault').body, 'params')).get('enablePurgeProtection')?.text).toBe('keyVaultPurgeProtection');
  });

  it('holds no secret value: no secret resource, no secure parameter, no value in any output', () => {
    expect(kv.resourcesOfType('Microsoft.KeyVault/vaults/secrets')).toHaveLength(0);
    for (const p of kv.params.values()) {
      expect(p.decorators.map((d) => d.name), p.name).not.toContain('secure');
      expect(p.name, 'a name the secure-secrets-in-params linter rule would flag').not.toMatch(/password|pwd|secret|accountkey|acctkey/i);
    }
    for (const o of [...kv.outputs.values(), ...main.outputs.values()]) expect(o.value.text).not.toMatch(/secrets|listSecrets|getSecret/i);
  });

  it('the app identity has Key Vault Secrets User on the vault (read secret values, nothing else), named guid(vault, principal, role)', () => {
    const assignments = kv.resourcesOfType('Microsoft.Authorization/roleAssignments');
    const app = assignments.filter((r) => kv.get(r.body, 'properties', 'principalId')?.text === 'readerPrincipalId');
    expect(app).toHaveLength(1);
    const a = app[0]!;
    expect(roleOf(a)).toBe(ROLE.keyVaultSecretsUser);
    expect(a.condition).toBeUndefined();
    expect(kv.get(a.body, 'scope')?.text).toBe('vault');
    expect(kv.evaluate(kv.get(a.body, 'properties', 'principalType'))).toBe('ServicePrincipal');
    const guid = calls(objectEntries(a.body).get('name')!, 'guid')[0]!;
    expect(guid.childForFieldName('arguments')!.namedChildren.filter((x) => x !== null).map((x) => x!.text)).toEqual(['vault.id', 'readerPrincipalId', 'roles.keyVaultSecretsUser']);
  });

  it('the deployer may set the tokens (Key Vault Secrets Officer), only when granted; no other role is handed out', () => {
    const assignments = kv.resourcesOfType('Microsoft.Authorization/roleAssignments');
    const writer = assignments.filter((r) => kv.get(r.body, 'properties', 'principalId')?.text === 'writerPrincipalId');
    expect(writer).toHaveLength(1);
    expect(roleOf(writer[0]!)).toBe(ROLE.keyVaultSecretsOfficer);
    expect(writer[0]!.condition?.text).toBe('(grantWriter)');
    expect(kv.vars.get('grantWriter')?.text).toBe('!empty(writerPrincipalId)');
    expect(assignments.map(roleOf).sort()).toEqual([ROLE.keyVaultSecretsUser, ROLE.keyVaultSecretsOfficer].sort());
  });
});

describe('main.bicep wires the vault', () => {
  it('deploys keyvault.bicep with the app identity as reader and the deployer (when granted) as writer', () => {
    const params = objectEntries(main.get(main.module('keyVault').body, 'params'));
    expect(main.module('keyVault').path).toBe('app/keyvault.bicep');
    expect(params.get('name')?.text).toBe('names.keyVault');
    expect(params.get('readerPrincipalId')?.text).toBe('identity.outputs.principalId');
    expect(params.get('writerPrincipalId')?.text).toBe("grantDeployerAccess ? principalId : ''");
    expect(params.get('writerPrincipalType')?.text).toBe('principalType');
  });

  it('names the vault within Key Vault\'s 3-24 character rule', () => {
    const name = main.get(main.vars.get('names'), 'keyVault')!;
    expect(name.text).toBe("'kv-med-${resourceToken}'");
    // uniqueString() gives 13 characters.
    const length = 'kv-med-'.length + 13;
    expect(length).toBeLessThanOrEqual(24);
    expect(`kv-med-${'a'.repeat(13)}`).toMatch(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/);
  });

  it('passes the vault to the function app and outputs its name for `az keyvault secret set`', () => {
    const fn = objectEntries(main.get(main.module('functionApp').body, 'params'));
    expect(fn.get('keyVaultName')?.text).toBe('keyVault.outputs.name');
    expect(main.outputs.get('AZURE_KEY_VAULT_NAME')?.value.text).toBe('keyVault.outputs.name');
    expect(descriptionOf(main.outputs.get('AZURE_KEY_VAULT_NAME')!.decorators)).toMatch(/pipedrive-api-token.*zendesk-api-token/);
  });
});

describe('the function app reads the tokens through Key Vault references', () => {
  it('resolves references as its user-assigned identity', () => {
    const site = functionApp.resourcesOfType('Microsoft.Web/sites')[0]!;
    expect(functionApp.get(site.body, 'properties', 'keyVaultReferenceIdentity')?.text).toBe('identityResourceId');
  });

  it('PIPEDRIVE_API_TOKEN and ZENDESK_API_TOKEN are references into the vault, by name', () => {
    const names = functionApp.evaluate(functionApp.vars.get('sourceTokenNames'));
    expect(names).toEqual({ pipedrive: 'pipedrive-api-token', zendesk: 'zendesk-api-token' });
    expect(settings.get(SETTINGS.pipedriveApiToken)?.text).toBe("'@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${sourceTokenNames.pipedrive})'");
    expect(settings.get(SETTINGS.zendeskApiToken)?.text).toBe("'@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${sourceTokenNames.zendesk})'");
    // The code recognises a reference the platform could not resolve, and says which secret to set.
    expect(() => config.sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: 'https://acme.pipedrive.com', PIPEDRIVE_API_TOKEN: '@Microsoft.KeyVault(VaultName=kv-med-x;SecretName=pipedrive-api-token)' })).toThrow(
      /PIPEDRIVE_API_TOKEN is a Key Vault reference that did not resolve: set the secret 'pipedrive-api-token'/,
    );
    expect(() => config.sourceSettings('zendesk', { ZENDESK_BASE_URL: 'https://acme.zendesk.com', ZENDESK_EMAIL: 'a@b.c', ZENDESK_API_TOKEN: '@Microsoft.KeyVault(VaultName=kv-med-x;SecretName=zendesk-api-token)' })).toThrow(/zendesk-api-token/);
  });

  it('the source addresses, schedules and extraction settings are app settings wired from main.bicep, with the code\'s defaults', () => {
    const fn = objectEntries(main.get(main.module('functionApp').body, 'params'));
    const wiring: Array<[string, string]> = [
      [SETTINGS.pipedriveBaseUrl, 'pipedriveBaseUrl'],
      [SETTINGS.zendeskBaseUrl, 'zendeskBaseUrl'],
      [SETTINGS.zendeskEmail, 'zendeskEmail'],
      [SETTINGS.pipedriveExtractSchedule, 'pipedriveExtractSchedule'],
      [SETTINGS.zendeskExtractSchedule, 'zendeskExtractSchedule'],
      [SETTINGS.extractOverlapMinutes, 'string(extractOverlapMinutes)'],
      [SETTINGS.extractPartMaxBytes, 'string(extractPartMaxBytes)'],
    ];
    for (const [setting, expression] of wiring) {
      expect(settings.get(setting)?.text, setting).toBe(expression);
      const param = /(\w+)\)?$/.exec(expression)![1]!;
      expect(fn.get(param)?.text, `main.bicep -> functionapp ${param}`).toBe(param);
    }
    for (const file of [main, functionApp]) {
      expect(file.evaluate(file.param('pipedriveExtractSchedule').defaultValue), file.relPath).toBe(config.pipedriveExtractSchedule({}));
      expect(file.evaluate(file.param('zendeskExtractSchedule').defaultValue), file.relPath).toBe(config.zendeskExtractSchedule({}));
      expect(file.evaluate(file.param('extractOverlapMinutes').defaultValue), file.relPath).toBe(config.extractSettings({}).overlapMinutes);
      expect(file.evaluate(file.param('extractPartMaxBytes').defaultValue), file.relPath).toBe(config.extractSettings({}).partMaxBytes);
      expect(file.evaluate(file.param('pipedriveBaseUrl').defaultValue), file.relPath).toBe('');
    }
    // Empty base URLs (the default) switch the sources off; the references alone configure nothing.
    expect(config.sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: '', PIPEDRIVE_API_TOKEN: '@Microsoft.KeyVault(VaultName=v;SecretName=pipedrive-api-token)' })).toBeUndefined();
  });

  it('the timer functions read their schedules from those settings', async () => {
    const { readFileSync } = await import('node:fs');
    const { REPO } = await import('./bicep');
    for (const [file, setting] of [
      ['functions/extractPipedrive.ts', SETTINGS.pipedriveExtractSchedule],
      ['functions/extractZendesk.ts', SETTINGS.zendeskExtractSchedule],
    ] as const) {
      const source = readFileSync(`${REPO}/${file}`, 'utf8');
      expect(source, file).toContain(`schedule: '%${setting}%'`);
      expect(settings.has(setting), setting).toBe(true);
    }
  });
});

describe('a failed extraction run alerts', () => {
  it('reads medallion.extract records with status failed, per source and failure kind, and notifies the action group', () => {
    const r = monitoring.resourcesOfType('Microsoft.Insights/scheduledQueryRules').find((x) => x.symbol === 'extractFailuresAlert')!;
    expect(r).toBeDefined();
    const criterion = monitoring.get(r.body, 'properties', 'criteria', 'allOf')!.namedChildren.find((c) => c?.type === 'object')!;
    expect(objectEntries(criterion).get('query')?.text).toBe('failedExtractRunsKql');
    const kql = monitoring.evaluate(monitoring.vars.get('failedExtractRunsKql')) as string;
    expect(kql).toContain("where name == 'medallion.extract'");
    expect(kql).toContain("message startswith 'medallion.extract '");
    expect(kql).toContain("where tostring(p.status) == 'failed'");
    for (const p of ['source', 'entity', 'failure_kind', 'error']) expect(kql, p).toContain(`p.${p}`);
    expect(monitoring.evaluate(objectEntries(criterion).get('dimensions'))).toEqual([
      { name: 'source', operator: 'Include', values: ['*'] },
      { name: 'failure_kind', operator: 'Include', values: ['*'] },
    ]);
    expect(monitoring.evaluate(objectEntries(criterion).get('threshold'))).toBe(0);
    expect(monitoring.get(r.body, 'properties', 'actions', 'actionGroups')?.text).toBe("notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []");
  });
});
