/**
 * The security properties the platform promises, read from the templates: hierarchical namespace,
 * no shared keys, no public blob access, TLS 1.2, Entra-only PostgreSQL, Event Hubs without SAS,
 * Entra-only telemetry ingestion, and no key or password anywhere.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { allowedValues, bicepFiles, calls, descriptionOf, loadBicep, objectEntries, stringValue, type BicepFile, type Resource } from './bicep';

let lake: BicepFile;
let hostStorage: BicepFile;
let eventHubs: BicepFile;
let postgres: BicepFile;
let functionApp: BicepFile;
let monitoring: BicepFile;
let network: BicepFile;
let main: BicepFile;

beforeAll(async () => {
  [lake, hostStorage, eventHubs, postgres, functionApp, monitoring, network, main] = (await Promise.all(
    ['lake', 'hoststorage', 'eventhubs', 'postgres', 'functionapp', 'monitoring', 'network'].map((m) => loadBicep(`infra/app/${m}.bicep`)).concat([loadBicep('infra/main.bicep')]),
  )) as BicepFile[] as [BicepFile, BicepFile, BicepFile, BicepFile, BicepFile, BicepFile, BicepFile, BicepFile];
});

function only(file: BicepFile, type: string): Resource {
  const found = file.resourcesOfType(type).filter((r) => !r.existing);
  expect(found, `${file.relPath}: one ${type}`).toHaveLength(1);
  return found[0]!;
}

function value(file: BicepFile, r: Resource, ...keys: string[]): unknown {
  return file.evaluate(file.get(r.body, ...keys));
}

describe('lake (ADLS Gen2)', () => {
  it('is a StorageV2 account with hierarchical namespace', () => {
    const account = only(lake, 'Microsoft.Storage/storageAccounts');
    expect(value(lake, account, 'kind')).toBe('StorageV2');
    expect(value(lake, account, 'properties', 'isHnsEnabled')).toBe(true);
  });

  it.each([
    ['lake', () => lake],
    ['host storage', () => hostStorage],
  ])('%s: shared keys off, public blob access off, TLS 1.2, HTTPS only, Entra by default', (_name, file) => {
    const f = file();
    const account = only(f, 'Microsoft.Storage/storageAccounts');
    expect(value(f, account, 'properties', 'allowSharedKeyAccess')).toBe(false);
    expect(value(f, account, 'properties', 'allowBlobPublicAccess')).toBe(false);
    expect(value(f, account, 'properties', 'minimumTlsVersion')).toBe('TLS1_2');
    expect(value(f, account, 'properties', 'supportsHttpsTrafficOnly')).toBe(true);
    expect(value(f, account, 'properties', 'defaultToOAuthAuthentication')).toBe(true);
    for (const c of f.resourcesOfType('Microsoft.Storage/storageAccounts/blobServices/containers')) {
      expect(value(f, c, 'properties', 'publicAccess')).toBe('None');
    }
  });

  it('has the bronze, silver, gold and quarantine containers', () => {
    const containers = only(lake, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(containers.loop, 'containers are created in a loop').toBeDefined();
    const names = lake.evaluate(lake.vars.get('dataContainerNames'));
    expect(names).toEqual(['bronze', 'silver', 'gold', 'quarantine']);
    expect(containers.loop!.text).toContain('dataContainerNames');
  });

  it('has blob soft delete enabled', () => {
    const blobService = only(lake, 'Microsoft.Storage/storageAccounts/blobServices');
    expect(value(lake, blobService, 'properties', 'deleteRetentionPolicy', 'enabled')).toBe(true);
    expect(lake.get(blobService.body, 'properties', 'deleteRetentionPolicy', 'days')?.text).toBe('softDeleteRetentionDays');
  });

  it('has a lifecycle policy: bronze to cool after N days, archive after M, quarantine deleted after K', () => {
    const policy = only(lake, 'Microsoft.Storage/storageAccounts/managementPolicies');
    expect(value(lake, policy, 'name')).toBe('default');
    const rules = lake.get(policy.body, 'properties', 'policy', 'rules');
    expect(rules?.type).toBe('array');
    const byName = new Map(
      rules!.namedChildren.filter((r) => r?.type === 'object').map((r) => [lake.evaluate(lake.get(r, 'name')) as string, r!]),
    );
    const bronze = byName.get('bronze-cool-then-archive');
    const quarantine = byName.get('quarantine-expiry');
    expect(bronze && quarantine).toBeTruthy();
    expect(lake.evaluate(lake.get(bronze, 'definition', 'filters', 'prefixMatch'))).toEqual(['bronze/']);
    expect(lake.evaluate(lake.get(quarantine, 'definition', 'filters', 'prefixMatch'))).toContain('quarantine/');
    // baseBlob = union(bronzeTierToCool, bronzeTierToArchive)
    const baseBlob = lake.get(bronze, 'definition', 'actions', 'baseBlob');
    expect(baseBlob?.text).toBe('union(bronzeTierToCool, bronzeTierToArchive)');
    expect(lake.get(lake.vars.get('bronzeTierToCool'), 'tierToCool', 'daysAfterModificationGreaterThan')?.text).toBe('bronzeCoolAfterDays');
    const archive = lake.vars.get('bronzeTierToArchive');
    expect(archive?.type).toBe('ternary_expression');
    expect(lake.get(archive!.childForFieldName('consequence'), 'tierToArchive', 'daysAfterModificationGreaterThan')?.text).toBe('bronzeArchiveAfterDays');
    expect(lake.get(quarantine, 'definition', 'actions', 'baseBlob', 'delete', 'daysAfterModificationGreaterThan')?.text).toBe('quarantineDeleteAfterDays');
    // N, M and K are parameters of main.bicep, passed through.
    const lakeParams = objectEntries(main.get(main.module('lake').body, 'params'));
    expect(lakeParams.get('bronzeCoolAfterDays')?.text).toBe('bronzeCoolAfterDays');
    expect(lakeParams.get('bronzeArchiveAfterDays')?.text).toBe('bronzeArchiveAfterDays');
    expect(lakeParams.get('quarantineDeleteAfterDays')?.text).toBe('quarantineDeleteAfterDays');
  });

  it('only puts bronze in archive on SKUs that have an archive tier', () => {
    expect(lake.vars.get('archiveSupported')?.text).toBe("contains(['Standard_LRS', 'Standard_GRS', 'Standard_RAGRS'], skuName)");
    expect(lake.vars.get('archiveEnabled')?.text).toBe('archiveSupported && bronzeArchiveAfterDays > bronzeCoolAfterDays');
  });
});

describe('Event Hubs', () => {
  it('has local (SAS) authentication disabled and TLS 1.2', () => {
    const ns = only(eventHubs, 'Microsoft.EventHub/namespaces');
    expect(value(eventHubs, ns, 'properties', 'disableLocalAuth')).toBe(true);
    expect(value(eventHubs, ns, 'properties', 'minimumTlsVersion')).toBe('1.2');
    expect(eventHubs.resourcesOfType('Microsoft.EventHub/namespaces/authorizationRules')).toHaveLength(0);
    expect(eventHubs.resourcesOfType('Microsoft.EventHub/namespaces/eventhubs/authorizationRules')).toHaveLength(0);
  });

  it('has the customers hub with a partition-count parameter and the platform consumer group', () => {
    const hub = only(eventHubs, 'Microsoft.EventHub/namespaces/eventhubs');
    expect(eventHubs.get(hub.body, 'properties', 'partitionCount')?.text).toBe('partitionCount');
    expect(eventHubs.evaluate(eventHubs.param('eventHubName').defaultValue)).toBe('customers');
    const group = only(eventHubs, 'Microsoft.EventHub/namespaces/eventhubs/consumergroups');
    expect(eventHubs.get(group.body, 'parent')?.text).toBe('hub');
    expect(eventHubs.get(group.body, 'name')?.text).toBe('consumerGroupName');
    expect(allowedValues(eventHubs, eventHubs.param('skuName').decorators)).not.toContain('Basic');
  });
});

describe('PostgreSQL Flexible Server', () => {
  it('is version 16 or later', () => {
    const allowed = allowedValues(postgres, postgres.param('version').decorators) as string[];
    expect(allowed.length).toBeGreaterThan(0);
    for (const v of allowed) expect(Number(v)).toBeGreaterThanOrEqual(16);
    const server = only(postgres, 'Microsoft.DBforPostgreSQL/flexibleServers');
    expect(postgres.get(server.body, 'properties', 'version')?.text).toBe('version');
  });

  it('uses Microsoft Entra authentication only', () => {
    const server = only(postgres, 'Microsoft.DBforPostgreSQL/flexibleServers');
    expect(value(postgres, server, 'properties', 'authConfig', 'activeDirectoryAuth')).toBe('Enabled');
    expect(value(postgres, server, 'properties', 'authConfig', 'passwordAuth')).toBe('Disabled');
    expect(postgres.get(server.body, 'properties', 'administratorLogin')).toBeUndefined();
    expect(postgres.get(server.body, 'properties', 'administratorLoginPassword')).toBeUndefined();
  });

  it('has one Entra administrator, named by its object id, that is a parameter and not the app identity', () => {
    const admins = postgres.resourcesOfType('Microsoft.DBforPostgreSQL/flexibleServers/administrators');
    const admin = postgres.resource('entraAdmin');
    expect(admin.loop).toBeUndefined();
    expect(postgres.get(admin.body, 'name')?.text).toBe('administratorObjectId');
    expect(postgres.get(admin.body, 'properties', 'principalType')?.text).toBe('administratorPrincipalType');
    expect(allowedValues(postgres, postgres.param('administratorPrincipalType').decorators)).toEqual(['User', 'Group', 'ServicePrincipal']);
    expect(postgres.get(admin.body, 'properties', 'principalName')?.text).toBe('administratorPrincipalName');
    expect(postgres.get(admin.body, 'properties', 'tenantId')?.text).toBe('tenant().tenantId');
    expect(admins.filter((a) => !a.loop)).toHaveLength(1);
    // main.bicep: the administrator is the deployer (or an explicit principal), never identity.outputs.*
    const pg = objectEntries(main.get(main.module('postgres').body, 'params'));
    for (const key of ['administratorObjectId', 'administratorPrincipalName', 'administratorPrincipalType']) {
      expect(pg.get(key)?.text, key).toMatch(/^postgresAdmin\./);
    }
    const postgresAdmin = main.vars.get('postgresAdmin')!;
    expect(postgresAdmin.text).not.toContain('identity.');
    expect(main.evaluate(main.get(postgresAdmin, 'objectId'), { postgresAdminObjectId: '', principalId: 'deployer-oid' })).toBe('deployer-oid');
    expect(main.evaluate(main.get(postgresAdmin, 'objectId'), { postgresAdminObjectId: 'pipeline-oid', principalId: 'deployer-oid' })).toBe('pipeline-oid');
    expect(main.evaluate(main.get(postgresAdmin, 'principalType'), { postgresAdminType: '', principalType: 'ServicePrincipal' })).toBe('ServicePrincipal');
    expect(main.get(postgresAdmin, 'principalName')?.text).toBe('postgresAdminName');
    expect(main.param('postgresAdminName').defaultValue, 'the name has no default: azd asks for it').toBeUndefined();
  });

  it('creates the platform database', () => {
    const db = only(postgres, 'Microsoft.DBforPostgreSQL/flexibleServers/databases');
    expect(postgres.get(db.body, 'name')?.text).toBe('databaseName');
    expect(postgres.evaluate(postgres.param('databaseName').defaultValue)).toBe('medallion');
  });

  it('requires TLS (require_secure_transport = ON)', () => {
    const configs = postgres.resourcesOfType('Microsoft.DBforPostgreSQL/flexibleServers/configurations');
    const tls = configs.find((c) => value(postgres, c, 'name') === 'require_secure_transport');
    expect(tls).toBeDefined();
    expect(value(postgres, tls!, 'properties', 'value')).toBe('ON');
    expect(tls!.condition).toBeUndefined();
  });

  it('takes backup retention, high availability and network access as parameters', () => {
    const server = only(postgres, 'Microsoft.DBforPostgreSQL/flexibleServers');
    expect(postgres.get(server.body, 'properties', 'backup', 'backupRetentionDays')?.text).toBe('backupRetentionDays');
    expect(postgres.get(server.body, 'properties', 'highAvailability', 'mode')?.text).toBe('highAvailabilityMode');
    expect(allowedValues(postgres, postgres.param('networkAccess').decorators)).toEqual(['public', 'private']);
    const networkProp = postgres.get(server.body, 'properties', 'network');
    expect(networkProp?.type).toBe('ternary_expression');
    const priv = networkProp!.childForFieldName('consequence');
    const pub = networkProp!.childForFieldName('alternative');
    expect(postgres.evaluate(postgres.get(priv, 'publicNetworkAccess'))).toBe('Disabled');
    expect(postgres.get(priv, 'delegatedSubnetResourceId')?.text).toBe('delegatedSubnetResourceId');
    expect(postgres.evaluate(postgres.get(pub, 'publicNetworkAccess'))).toBe('Enabled');
    // Firewall rules exist only in public mode.
    expect(postgres.vars.get('effectiveFirewallRules')?.text).toBe('isPrivate ? [] : concat(azureServicesRule, firewallRules)');
  });

  it('chains its child operations (a flexible server accepts one at a time)', () => {
    const dependsOn = (symbol: string) => postgres.get(postgres.resource(symbol).body, 'dependsOn')?.text ?? '';
    expect(dependsOn('database')).toContain('firewall');
    expect(dependsOn('entraAdmin')).toContain('database');
    expect(dependsOn('requireSecureTransport')).toContain('entraAdmin');
    expect(dependsOn('pgbouncer')).toContain('requireSecureTransport');
    expect(postgres.resource('pgbouncer').decorators.map((d) => d.name)).toContain('batchSize');
    expect(postgres.resource('firewall').decorators.map((d) => d.name)).toContain('batchSize');
  });

  it('private mode injects the server into a delegated subnet with a linked private DNS zone', () => {
    const vnet = only(network, 'Microsoft.Network/virtualNetworks');
    const text = vnet.body.text;
    expect(text).toContain("serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'");
    expect(text).toContain("serviceName: 'Microsoft.App/environments'");
    const link = only(network, 'Microsoft.Network/privateDnsZones/virtualNetworkLinks');
    expect(network.get(link.body, 'properties', 'virtualNetwork', 'id')?.text).toBe('vnet.id');
    expect(main.vars.get('postgresDnsZoneName')?.text).toMatch(/\.postgres\.database\.azure\.com'$/);
    expect(main.module('network').condition?.text).toBe('(isPrivate)');
  });
});

describe('function app', () => {
  it('runs on the Flex Consumption plan (Linux)', () => {
    const plan = only(functionApp, 'Microsoft.Web/serverfarms');
    expect(value(functionApp, plan, 'sku')).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    expect(value(functionApp, plan, 'properties', 'reserved')).toBe(true);
    const site = only(functionApp, 'Microsoft.Web/sites');
    expect(value(functionApp, site, 'kind')).toBe('functionapp,linux');
    expect(value(functionApp, site, 'properties', 'httpsOnly')).toBe(true);
  });

  it('runs Node 22 (newest LTS GA on Flex Consumption), with instance memory and maximum instances as parameters', () => {
    const site = only(functionApp, 'Microsoft.Web/sites');
    const cfg = (...k: string[]) => functionApp.get(site.body, 'properties', 'functionAppConfig', ...k);
    expect(functionApp.evaluate(cfg('runtime', 'name'))).toBe('node');
    expect(cfg('runtime', 'version')?.text).toBe('nodeVersion');
    for (const file of [functionApp, main]) {
      const p = file.param('nodeVersion');
      expect(allowedValues(file, p.decorators), file.relPath).toEqual(['22', '24']);
      expect(file.evaluate(p.defaultValue), file.relPath).toBe('22');
      expect(descriptionOf(p.decorators), file.relPath).toMatch(/GA/);
    }
    expect(objectEntries(main.get(main.module('functionApp').body, 'params')).get('nodeVersion')?.text).toBe('nodeVersion');
    expect(cfg('scaleAndConcurrency', 'instanceMemoryMB')?.text).toBe('instanceMemoryMB');
    expect(cfg('scaleAndConcurrency', 'maximumInstanceCount')?.text).toBe('maximumInstanceCount');
  });

  it('maximumInstanceCount goes down to the platform minimum of 1 (not 40)', () => {
    for (const file of [functionApp, main]) {
      const p = file.param('maximumInstanceCount');
      const min = p.decorators.find((d) => d.name === 'minValue');
      expect(file.evaluate(min?.args[0]), file.relPath).toBe(1);
      expect(file.evaluate(p.defaultValue), file.relPath).toBe(10);
    }
  });

  it('runs as the user-assigned identity, which also reads the deployment package', () => {
    const site = only(functionApp, 'Microsoft.Web/sites');
    expect(value(functionApp, site, 'identity', 'type')).toBe('UserAssigned');
    const auth = functionApp.get(site.body, 'properties', 'functionAppConfig', 'deployment', 'storage', 'authentication');
    expect(functionApp.evaluate(functionApp.get(auth, 'type'))).toBe('UserAssignedIdentity');
    expect(functionApp.get(auth, 'userAssignedIdentityResourceId')?.text).toBe('identityResourceId');
    expect(functionApp.get(auth, 'storageAccountConnectionStringName')).toBeUndefined();
  });

  it('is tagged with the azd service name used in azure.yaml', () => {
    const site = only(functionApp, 'Microsoft.Web/sites');
    expect(functionApp.get(site.body, 'tags')?.text).toContain("'azd-service-name': serviceName");
    expect(functionApp.evaluate(functionApp.param('serviceName').defaultValue)).toBe('medallion');
  });

  it('starts only after its role assignments exist', () => {
    const dependsOn = main.get(main.module('functionApp').body, 'dependsOn')?.text ?? '';
    expect(dependsOn).toContain('rbac');
  });
});

describe('monitoring', () => {
  it('Application Insights accepts only Entra-authenticated telemetry', () => {
    const ai = only(monitoring, 'Microsoft.Insights/components');
    expect(value(monitoring, ai, 'properties', 'DisableLocalAuth')).toBe(true);
    expect(monitoring.get(ai.body, 'properties', 'WorkspaceResourceId')?.text).toBe('logAnalytics.id');
    const la = only(monitoring, 'Microsoft.OperationalInsights/workspaces');
    expect(value(monitoring, la, 'properties', 'features', 'disableLocalAuth')).toBe(true);
  });
});

describe('no key or password anywhere', () => {
  it('no template declares a @secure() parameter, a password, or a SAS/access key', async () => {
    for (const file of bicepFiles()) {
      const bicep = await loadBicep(file);
      for (const p of bicep.params.values()) {
        expect(p.decorators.map((d) => d.name), `${file} param ${p.name}`).not.toContain('secure');
      }
      expect(bicep.source, file).not.toMatch(/administratorLoginPassword|AccountKey=|SharedAccessKey|authorizationRules|listConnectionStrings|primaryKey|secondaryKey/);
    }
  });

  it('listKeys() is used once: the blobs_extension system key Event Grid delivers with', async () => {
    const uses: string[] = [];
    for (const file of bicepFiles()) {
      const bicep = await loadBicep(file);
      for (const c of [...calls(bicep.root, 'listKeys').map((n) => n.text), ...descendantsCalledListKeys(bicep)]) uses.push(`${file}: ${c}`);
    }
    expect(uses).toHaveLength(1);
    expect(uses[0]).toContain('infra/app/eventgrid-subscription.bicep');
    expect(uses[0]).toContain('/host/default');
    const sub = await loadBicep('infra/app/eventgrid-subscription.bicep');
    expect(sub.vars.get('blobsExtensionKey')?.text).toMatch(/\.systemKeys\.blobs_extension$/);
    expect(sub.outputs.size).toBeGreaterThan(0);
    for (const o of sub.outputs.values()) expect(o.value.text).not.toMatch(/Key|webhookUrl/);
  });

  it('the app settings come from the one appSettings object that settings.test.ts checks', () => {
    const cfg = functionApp.resourcesOfType('Microsoft.Web/sites/config')[0]!;
    expect(stringValue(functionApp.get(cfg.body, 'name'))).toBe('appsettings');
    expect(objectEntries(cfg.body).get('properties')?.text).toBe('appSettings');
  });
});

function descendantsCalledListKeys(bicep: BicepFile): string[] {
  // member-call form: resource.listKeys()
  return bicep.root
    .descendantsOfType('call_expression')
    .filter((c) => c?.childForFieldName('function')?.type === 'member_expression' && /listKeys$/i.test(c.childForFieldName('function')!.text))
    .map((c) => c!.text);
}
