/**
 * Event Grid: the system topic on the lake, and the subscription (deployed after the code by the
 * postdeploy hook) that delivers BlobCreated events of the bronze container only, to the blobs
 * extension webhook of bronzeToSilver.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBicep, objectEntries, readRepoFile, REPO, typeScriptSources, type BicepFile } from './bicep';
import { parseYaml } from './yaml';

let topic: BicepFile;
let sub: BicepFile;
let main: BicepFile;

beforeAll(async () => {
  topic = await loadBicep('infra/app/eventgrid.bicep');
  sub = await loadBicep('infra/app/eventgrid-subscription.bicep');
  main = await loadBicep('infra/main.bicep');
});

describe('Event Grid system topic (infra/app/eventgrid.bicep)', () => {
  it('publishes the lake account\'s events', () => {
    const [t] = topic.resourcesOfType('Microsoft.EventGrid/systemTopics');
    expect(topic.evaluate(topic.get(t!.body, 'properties', 'topicType'))).toBe('Microsoft.Storage.StorageAccounts');
    expect(topic.get(t!.body, 'properties', 'source')?.text).toBe('lake.id');
    expect(topic.get(topic.resource('lake').body, 'name')?.text).toBe('lakeAccountName');
    expect(objectEntries(main.get(main.module('eventGrid').body, 'params')).get('lakeAccountName')?.text).toBe('lake.outputs.name');
  });

  it('has an identity for dead-lettering', () => {
    const [t] = topic.resourcesOfType('Microsoft.EventGrid/systemTopics');
    expect(topic.evaluate(topic.get(t!.body, 'identity', 'type'))).toBe('SystemAssigned');
  });

  it('main.bicep never reads the function key (the subscription is a separate, later step)', () => {
    expect(main.source).not.toMatch(/listKeys|blobs_extension|eventgrid-subscription/);
    expect(topic.resourcesOfType('Microsoft.EventGrid/systemTopics/eventSubscriptions')).toHaveLength(0);
  });
});

describe('Event Grid subscription (infra/app/eventgrid-subscription.bicep)', () => {
  const subscription = () => sub.resourcesOfType('Microsoft.EventGrid/systemTopics/eventSubscriptions')[0]!;

  it('delivers BlobCreated events only', () => {
    expect(sub.evaluate(sub.get(subscription().body, 'properties', 'filter', 'includedEventTypes'))).toEqual(['Microsoft.Storage.BlobCreated']);
  });

  it('filters on the bronze container', () => {
    expect(sub.evaluate(sub.get(subscription().body, 'properties', 'filter', 'subjectBeginsWith'))).toBe('/blobServices/default/containers/bronze/');
  });

  it('skips the empty CreateFile event of Data Lake uploads (complete files only)', () => {
    const filters = sub.evaluate(sub.get(subscription().body, 'properties', 'filter', 'advancedFilters')) as Array<Record<string, unknown>>;
    const api = filters.find((f) => f.key === 'data.api');
    expect(api?.operatorType).toBe('StringIn');
    expect(api?.values).toEqual(expect.arrayContaining(['PutBlob', 'PutBlockList', 'FlushWithClose']));
    expect(api?.values).not.toContain('CreateFile');
  });

  it('targets the blobs extension webhook of bronzeToSilver with the blobs_extension system key', () => {
    const destination = sub.get(subscription().body, 'properties', 'destination');
    expect(sub.evaluate(sub.get(destination, 'endpointType'))).toBe('WebHook');
    expect(objectEntries(sub.get(destination, 'properties')).get('endpointUrl')?.text).toBe('webhookUrl');
    const url = sub.vars.get('webhookUrl')!.text;
    expect(url).toBe(
      "'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'",
    );
    expect(sub.evaluate(sub.param('functionName').defaultValue)).toBe('bronzeToSilver');
    expect(sub.vars.get('blobsExtensionKey')!.text).toBe("listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension");
  });

  it('dead-letters undeliverable events with the topic identity (no storage key)', () => {
    const dl = sub.get(subscription().body, 'properties', 'deadLetterWithResourceIdentity');
    expect(sub.evaluate(sub.get(dl, 'identity', 'type'))).toBe('SystemAssigned');
    expect(sub.get(dl, 'deadLetterDestination', 'properties', 'resourceId')?.text).toBe('lake.id');
    expect(sub.get(subscription().body, 'properties', 'deadLetterDestination')).toBeUndefined();
  });

  it('matches the blob trigger registered in functions/ (when the code is present)', () => {
    for (const file of typeScriptSources('functions')) {
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/app\.storageBlob\(\s*['"`]([^'"`]+)['"`]/g)) {
        const registration = source.slice(m.index, m.index + 2000);
        expect(m[1], file).toBe(sub.evaluate(sub.param('functionName').defaultValue));
        expect(registration, file).toMatch(/path:\s*['"`]bronze\/\{name\}['"`]/);
        expect(registration, file).toMatch(/source:\s*['"`]EventGrid['"`]/);
        expect(registration, file).toMatch(/connection:\s*(['"`]LakeStorage['"`]|SETTINGS\.lakeConnection)/);
      }
    }
    // The Bicep side holds regardless of whether the code is here yet.
    expect(sub.evaluate(sub.param('containerName').defaultValue)).toBe('bronze');
  });
});

describe('the ordering: code first, then the subscription (azd postdeploy hook)', () => {
  const azureYaml = () => parseYaml(readRepoFile('azure.yaml')) as Record<string, any>;

  it('azure.yaml runs the hook after deploy on every OS', () => {
    const hook = azureYaml().hooks.postdeploy;
    expect(hook.posix.run).toBe('./infra/hooks/postdeploy.sh');
    expect(hook.windows.run).toBe('./infra/hooks/postdeploy.ps1');
    expect(hook.posix.continueOnError).toBe(false);
    expect(hook.windows.continueOnError).toBe(false);
    for (const script of [hook.posix.run, hook.windows.run]) expect(existsSync(path.join(REPO, script))).toBe(true);
  });

  it('azure.yaml runs the app-role migration after provision, before the code runs, on every OS', () => {
    const hook = azureYaml().hooks.postprovision;
    expect(hook.posix.run).toBe('./infra/hooks/postprovision.sh');
    expect(hook.windows.run).toBe('./infra/hooks/postprovision.ps1');
    expect(hook.posix.continueOnError).toBe(false);
    for (const script of [hook.posix.run, hook.windows.run]) expect(existsSync(path.join(REPO, script))).toBe(true);
  });

  it.each(['infra/hooks/postdeploy.sh', 'infra/hooks/postdeploy.ps1'])(
    '%s waits for the key, deploys the subscription template with outputs of main.bicep, and never prints the key',
    (script) => {
      const text = readRepoFile(script);
      expect(text).toContain('systemKeys.blobs_extension');
      expect(text).toContain('az deployment group create');
      expect(text).toMatch(/eventgrid-subscription\.bicep/);
      // Each template parameter it passes exists, and every required one is passed.
      const section = text.slice(text.indexOf('--parameters'), text.indexOf('--output none', text.indexOf('--parameters')));
      expect(section.length).toBeGreaterThan(20);
      const passed = new Set([...section.matchAll(/"?(\w+)="?\$/g)].map((m) => m[1]!));
      for (const p of passed) expect(sub.params.has(p), `${script} passes unknown parameter ${p}`).toBe(true);
      for (const p of sub.params.values()) {
        if (!p.defaultValue) expect(passed.has(p.name), `${script} must pass ${p.name}`).toBe(true);
      }
      // Every azd value it reads is an output of main.bicep.
      const read = new Set([...text.matchAll(/AZURE_[A-Z_]+/g)].map((m) => m[0]));
      for (const name of read) {
        if (['AZURE_SUBSCRIPTION_ID'].includes(name)) continue;
        expect(main.outputs.has(name), `${script} reads ${name}, not an output of main.bicep`).toBe(true);
      }
      expect(text).not.toMatch(/echo[^\n]*\$key|Write-Host[^\n]*\$key|--query "systemKeys"/);
    },
  );
});
