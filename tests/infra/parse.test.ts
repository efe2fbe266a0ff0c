/**
 * Every template parses, and the checks a Bicep build would make across files hold: module paths
 * exist, modules get exactly the parameters they declare (and every required one), module outputs
 * that are used exist, nothing is declared and left unused, every parameter and output is
 * described, and every resource type uses an API version checked against the Azure reference.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allowedValues,
  bicepFiles,
  descendants,
  descriptionOf,
  loadBicep,
  objectEntries,
  parseBicepSource,
  REPO,
  syntaxErrors,
} from './bicep';

const files = bicepFiles();

/**
 * API versions in use, each checked against the Azure resource reference / Azure Verified Modules.
 * A typo or an unreviewed version bump fails here instead of at deployment time.
 */
const REVIEWED_API_VERSIONS: Record<string, string> = {
  'Microsoft.Resources/resourceGroups': '2024-03-01',
  'Microsoft.ManagedIdentity/userAssignedIdentities': '2023-01-31',
  'Microsoft.Storage/storageAccounts': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices/containers': '2023-05-01',
  'Microsoft.Storage/storageAccounts/managementPolicies': '2023-05-01',
  'Microsoft.EventHub/namespaces': '2024-01-01',
  'Microsoft.EventHub/namespaces/eventhubs': '2024-01-01',
  'Microsoft.EventHub/namespaces/eventhubs/consumergroups': '2024-01-01',
  'Microsoft.DBforPostgreSQL/flexibleServers': '2024-08-01',
  'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules': '2024-08-01',
  'Microsoft.DBforPostgreSQL/flexibleServers/databases': '2024-08-01',
  'Microsoft.DBforPostgreSQL/flexibleServers/administrators': '2024-08-01',
  'Microsoft.DBforPostgreSQL/flexibleServers/configurations': '2024-08-01',
  'Microsoft.Network/virtualNetworks': '2024-05-01',
  'Microsoft.Network/privateDnsZones': '2024-06-01',
  'Microsoft.Network/privateDnsZones/virtualNetworkLinks': '2024-06-01',
  'Microsoft.Web/serverfarms': '2024-04-01',
  'Microsoft.Web/sites': '2024-04-01',
  'Microsoft.Web/sites/config': '2024-04-01',
  'Microsoft.Authorization/roleAssignments': '2022-04-01',
  'Microsoft.EventGrid/systemTopics': '2025-02-15',
  'Microsoft.EventGrid/systemTopics/eventSubscriptions': '2025-02-15',
  'Microsoft.OperationalInsights/workspaces': '2023-09-01',
  'Microsoft.Insights/components': '2020-02-02',
  'Microsoft.Insights/actionGroups': '2023-01-01',
  'Microsoft.Insights/scheduledQueryRules': '2023-12-01',
  'Microsoft.Insights/workbooks': '2023-06-01',
  'Microsoft.KeyVault/vaults': '2023-07-01',
};

/** Names every Bicep file may use without declaring them (functions, namespaces, keywords). */
const BUILTINS = new Set([
  'az', 'sys', 'resourceGroup', 'subscription', 'tenant', 'deployment', 'environment', 'managementGroup',
  'toLower', 'toUpper', 'uniqueString', 'guid', 'union', 'concat', 'contains', 'empty', 'length', 'split',
  'replace', 'string', 'int', 'bool', 'join', 'take', 'skip', 'first', 'last', 'resourceId',
  'subscriptionResourceId', 'tenantResourceId', 'extensionResourceId', 'listKeys', 'loadTextContent',
  'loadJsonContent', 'cidrSubnet', 'format', 'json', 'items', 'map', 'filter', 'range', 'description', 'min', 'max',
  'allowed', 'minValue', 'maxValue', 'minLength', 'maxLength', 'metadata', 'secure', 'batchSize', 'deployer',
]);

describe('Bicep templates parse with tree-sitter-bicep', () => {
  it('finds the templates', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'infra/main.bicep',
        'infra/app/lake.bicep',
        'infra/app/eventhubs.bicep',
        'infra/app/postgres.bicep',
        'infra/app/functionapp.bicep',
        'infra/app/rbac.bicep',
        'infra/app/eventgrid.bicep',
        'infra/app/eventgrid-subscription.bicep',
        'infra/app/monitoring.bicep',
      ]),
    );
  });

  it.each(files)('%s has no syntax error', async (file) => {
    const bicep = await loadBicep(file);
    expect(syntaxErrors(bicep.root, bicep.source)).toEqual([]);
  });

  it('reports syntax errors in broken Bicep (the check above can fail)', async () => {
    const broken = await parseBicepSource("param a string =\nresource r 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n");
    expect(syntaxErrors(broken.root, broken.source).length).toBeGreaterThan(0);
  });
});

describe('Bicep templates are internally consistent', () => {
  it.each(files)('%s: every parameter and output has a @description', async (file) => {
    const bicep = await loadBicep(file);
    const undocumented = [
      ...[...bicep.params.values()].filter((p) => !descriptionOf(p.decorators)).map((p) => `param ${p.name}`),
      ...[...bicep.outputs.values()].filter((o) => !descriptionOf(o.decorators)).map((o) => `output ${o.name}`),
    ];
    expect(undocumented).toEqual([]);
  });

  it.each(files)('%s: parameter defaults satisfy their @allowed values', async (file) => {
    const bicep = await loadBicep(file);
    for (const p of bicep.params.values()) {
      const allowed = allowedValues(bicep, p.decorators);
      if (!allowed || !p.defaultValue) continue;
      expect(allowed, `${file} param ${p.name}`).toContain(bicep.evaluate(p.defaultValue));
    }
  });

  it.each(files)('%s: every parameter and variable is used, and every existing resource too', async (file) => {
    const bicep = await loadBicep(file);
    const used = bicep.referencedIdentifiers();
    const unused = [
      ...[...bicep.params.keys()].filter((n) => !used.has(n)).map((n) => `param ${n}`),
      ...[...bicep.vars.keys()].filter((n) => !used.has(n)).map((n) => `var ${n}`),
      ...bicep.resources.filter((r) => r.existing && !used.has(r.symbol)).map((r) => `existing ${r.symbol}`),
    ];
    expect(unused).toEqual([]);
  });

  it.each(files)('%s: every identifier it uses is declared', async (file) => {
    const bicep = await loadBicep(file);
    const declared = new Set<string>([
      ...bicep.params.keys(),
      ...bicep.vars.keys(),
      ...bicep.resources.map((r) => r.symbol),
      ...bicep.modules.map((m) => m.symbol),
    ]);
    for (const loop of descendants(bicep.root, 'for_statement')) {
      const initializer = loop.childForFieldName('initializer');
      for (const id of initializer ? [initializer, ...descendants(initializer, 'identifier')] : []) declared.add(id.text);
    }
    const undeclared = [...bicep.referencedIdentifiers()].filter((n) => !declared.has(n) && !BUILTINS.has(n));
    expect(undeclared).toEqual([]);
  });

  it.each(files)('%s: resource types use reviewed API versions', async (file) => {
    const bicep = await loadBicep(file);
    for (const r of bicep.resources) {
      expect(REVIEWED_API_VERSIONS[r.type], `${file}: ${r.symbol} ${r.type}@${r.apiVersion}`).toBe(r.apiVersion);
    }
  });

  it.each(files)('%s: module references resolve (paths, parameters, outputs)', async (file) => {
    const bicep = await loadBicep(file);
    for (const m of bicep.modules) {
      const target = path.join(path.dirname(file), m.path);
      expect(existsSync(path.join(REPO, target)), `${file}: module ${m.symbol} -> ${target}`).toBe(true);
      const child = await loadBicep(target);
      const passed = objectEntries(bicep.get(m.body, 'params'));
      const unknown = [...passed.keys()].filter((k) => !child.params.has(k));
      expect(unknown, `${file}: module ${m.symbol} passes undeclared params`).toEqual([]);
      const missing = [...child.params.values()].filter((p) => !p.defaultValue && !p.nullable && !passed.has(p.name)).map((p) => p.name);
      expect(missing, `${file}: module ${m.symbol} misses required params`).toEqual([]);
      expect(child.targetScope, `${target} must deploy into a resource group`).toBe('resourceGroup');
      expect(bicep.get(m.body, 'scope')?.text, `${file}: module ${m.symbol} scope`).toBe(bicep.targetScope === 'subscription' ? 'rg' : undefined);
    }
    // Every `<module>.outputs.<name>` used must be declared by that module.
    const modulePaths = new Map(bicep.modules.map((m) => [m.symbol, path.join(path.dirname(file), m.path)]));
    for (const member of descendants(bicep.root, 'member_expression')) {
      const object = member.childForFieldName('object');
      if (object?.type !== 'member_expression' || object.childForFieldName('property')?.text !== 'outputs') continue;
      const moduleSymbol = object.childForFieldName('object')?.text ?? '';
      const target = modulePaths.get(moduleSymbol);
      if (!target) continue;
      const child = await loadBicep(target);
      const output = member.childForFieldName('property')?.text ?? '';
      expect(child.outputs.has(output), `${file}: ${moduleSymbol}.outputs.${output} is not an output of ${target}`).toBe(true);
    }
  });

  it('every module file is used by main.bicep or deployed by the postdeploy hook', async () => {
    const main = await loadBicep('infra/main.bicep');
    const used = new Set(main.modules.map((m) => path.join('infra', m.path)));
    const hook = readFileSync(path.join(REPO, 'infra/hooks/postdeploy.sh'), 'utf8');
    for (const file of files.filter((f) => f.startsWith('infra/app/'))) {
      const deployedByHook = hook.includes(path.basename(file));
      expect(used.has(file) || deployedByHook, `${file} is deployed by nothing`).toBe(true);
    }
  });

  it('main.bicep deploys at subscription scope and creates the resource group', async () => {
    const main = await loadBicep('infra/main.bicep');
    expect(main.targetScope).toBe('subscription');
    expect(main.resourcesOfType('Microsoft.Resources/resourceGroups')).toHaveLength(1);
    const location = main.param('location');
    expect(main.evaluate(location.decorators.find((d) => d.name === 'metadata')?.args[0])).toEqual({ azd: { type: 'location' } });
  });
});

