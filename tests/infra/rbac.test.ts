/**
 * Role assignments: each one the platform needs is present, on the right scope, with the right
 * built-in role definition id, and named guid(scope, principal, role) so re-deployments are
 * idempotent.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { calls, loadBicep, objectEntries, type BicepFile, type Resource } from './bicep';

/** Built-in role definition ids (Azure built-in roles reference). */
const BUILT_IN_ROLES: Record<string, string> = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Azure Event Hubs Data Receiver': 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde',
  'Azure Event Hubs Data Sender': '2b629674-e913-4c01-ae53-ef4638d8f975',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
};

interface Assignment {
  symbol: string;
  scope: string;
  scopeType: string;
  principal: string;
  roleGuid: string;
  principalType?: string;
  conditional: boolean;
}

let rbac: BicepFile;
let assignments: Assignment[];

function roleGuidOf(file: BicepFile, expressionText: string): string {
  // roles.<key> -> the GUID in the `roles` variable
  const m = /^roles\.(\w+)$/.exec(expressionText);
  if (!m) return expressionText;
  const v = file.evaluate(file.get(file.vars.get('roles'), m[1]!));
  return typeof v === 'string' ? v : expressionText;
}

function describeAssignment(file: BicepFile, r: Resource): Assignment {
  const scope = file.get(r.body, 'scope')?.text ?? '';
  const scopeResource = file.resources.find((x) => x.symbol === scope);
  const nameNode = objectEntries(r.body).get('name');
  const guidCall = nameNode && calls(nameNode, 'guid')[0];
  expect(guidCall, `${r.symbol}: name must be guid(scope, principal, role)`).toBeDefined();
  const args = guidCall!.childForFieldName('arguments')!.namedChildren.filter((a) => a !== null).map((a) => a!.text);
  expect(args, `${r.symbol}: guid arguments`).toHaveLength(3);
  expect(args[0], `${r.symbol}: guid() starts with the scope's id`).toBe(`${scope}.id`);

  const roleDefinitionId = file.get(r.body, 'properties', 'roleDefinitionId');
  const roleCall = roleDefinitionId && calls(roleDefinitionId, 'subscriptionResourceId')[0];
  expect(roleCall, `${r.symbol}: roleDefinitionId = subscriptionResourceId(...)`).toBeDefined();
  const roleArgs = roleCall!.childForFieldName('arguments')!.namedChildren.filter((a) => a !== null);
  expect(file.evaluate(roleArgs[0])).toBe('Microsoft.Authorization/roleDefinitions');
  const roleInDefinition = roleGuidOf(file, roleArgs[1]!.text);
  const roleInName = roleGuidOf(file, args[2]!);
  expect(roleInName, `${r.symbol}: the name's role is the assigned role`).toBe(roleInDefinition);

  const principal = file.get(r.body, 'properties', 'principalId')?.text ?? '';
  expect(args[1], `${r.symbol}: the name's principal is the assigned principal`).toBe(principal);
  const principalType = file.evaluate(file.get(r.body, 'properties', 'principalType'));
  return {
    symbol: r.symbol,
    scope,
    scopeType: scopeResource?.type ?? '',
    principal,
    roleGuid: roleInDefinition,
    principalType: typeof principalType === 'string' ? principalType : file.get(r.body, 'properties', 'principalType')?.text,
    conditional: r.condition !== undefined,
  };
}

beforeAll(async () => {
  rbac = await loadBicep('infra/app/rbac.bicep');
  assignments = rbac.resourcesOfType('Microsoft.Authorization/roleAssignments').map((r) => describeAssignment(rbac, r));
});

function find(principal: string, scopeType: string, role: string, scopeSymbol?: string): Assignment | undefined {
  return assignments.find(
    (a) =>
      a.principal === principal &&
      a.scopeType === scopeType &&
      a.roleGuid === BUILT_IN_ROLES[role] &&
      (scopeSymbol === undefined || a.scope === scopeSymbol),
  );
}

describe('role assignments (infra/app/rbac.bicep)', () => {
  it('every assignment is named guid(scope, principal, role) with a built-in role id', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(8);
    const known = new Set(Object.values(BUILT_IN_ROLES));
    for (const a of assignments) expect(known.has(a.roleGuid), `${a.symbol}: ${a.roleGuid}`).toBe(true);
  });

  it('the roles table in rbac.bicep holds the documented built-in ids', () => {
    const roles = rbac.evaluate(rbac.vars.get('roles')) as Record<string, string>;
    expect(roles).toMatchObject({
      storageBlobDataOwner: BUILT_IN_ROLES['Storage Blob Data Owner'],
      storageBlobDataContributor: BUILT_IN_ROLES['Storage Blob Data Contributor'],
      storageQueueDataContributor: BUILT_IN_ROLES['Storage Queue Data Contributor'],
      storageTableDataContributor: BUILT_IN_ROLES['Storage Table Data Contributor'],
      eventHubsDataReceiver: BUILT_IN_ROLES['Azure Event Hubs Data Receiver'],
      eventHubsDataSender: BUILT_IN_ROLES['Azure Event Hubs Data Sender'],
      monitoringMetricsPublisher: BUILT_IN_ROLES['Monitoring Metrics Publisher'],
    });
  });

  it.each([
    ['Storage Blob Data Owner', 'Microsoft.Storage/storageAccounts', 'lake'],
    ['Storage Queue Data Contributor', 'Microsoft.Storage/storageAccounts', 'lake'],
    ['Storage Blob Data Owner', 'Microsoft.Storage/storageAccounts', 'hostStorage'],
    ['Storage Queue Data Contributor', 'Microsoft.Storage/storageAccounts', 'hostStorage'],
    ['Azure Event Hubs Data Receiver', 'Microsoft.EventHub/namespaces', undefined],
    ['Monitoring Metrics Publisher', 'Microsoft.Insights/components', undefined],
  ])('function identity has %s on %s %s', (role, scopeType, scopeSymbol) => {
    const a = find('identityPrincipalId', scopeType, role, scopeSymbol);
    expect(a, `${role} on ${scopeSymbol ?? scopeType}`).toBeDefined();
    expect(a!.principalType).toBe('ServicePrincipal');
    expect(a!.conditional).toBe(false);
  });

  it('the function identity cannot send events (no function sends; least privilege), only receive', () => {
    expect(find('identityPrincipalId', 'Microsoft.EventHub/namespaces', 'Azure Event Hubs Data Sender')).toBeUndefined();
    const onEventHubs = assignments.filter((a) => a.principal === 'identityPrincipalId' && a.scopeType === 'Microsoft.EventHub/namespaces');
    expect(onEventHubs.map((a) => a.roleGuid)).toEqual([BUILT_IN_ROLES['Azure Event Hubs Data Receiver']]);
  });

  it('the Event Grid system topic may write dead letters to the lake', () => {
    const a = find('systemTopicPrincipalId', 'Microsoft.Storage/storageAccounts', 'Storage Blob Data Contributor', 'lake');
    expect(a).toBeDefined();
    expect(a!.principalType).toBe('ServicePrincipal');
  });

  it('deployer grants are optional and never broader than data contributor / sender', () => {
    const deployer = assignments.filter((a) => a.principal === 'deployerPrincipalId');
    expect(deployer.length).toBeGreaterThan(0);
    for (const a of deployer) {
      expect(a.conditional, a.symbol).toBe(true);
      expect([BUILT_IN_ROLES['Storage Blob Data Contributor'], BUILT_IN_ROLES['Azure Event Hubs Data Sender']]).toContain(a.roleGuid);
    }
  });

  it('main.bicep wires the identities and resources into rbac', async () => {
    const main = await loadBicep('infra/main.bicep');
    const params = objectEntries(main.get(main.module('rbac').body, 'params'));
    expect(params.get('identityPrincipalId')?.text).toBe('identity.outputs.principalId');
    expect(params.get('lakeAccountName')?.text).toBe('lake.outputs.name');
    expect(params.get('hostStorageAccountName')?.text).toBe('hostStorage.outputs.name');
    expect(params.get('eventHubsNamespaceName')?.text).toBe('eventHubs.outputs.name');
    expect(params.get('applicationInsightsName')?.text).toBe('monitoring.outputs.applicationInsightsName');
    expect(params.get('systemTopicPrincipalId')?.text).toBe('eventGrid.outputs.principalId');
  });
});
