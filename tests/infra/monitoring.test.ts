/**
 * Monitoring: the alert rules and the workbook query the `medallion.file` records the code writes
 * (one per processed file: dataset, path, status, rows_read, rows_silver, rows_quarantined,
 * duplicates, duration_ms, latency_ms) and the function invocations.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBicep, objectEntries, readRepoFile, type BicepFile, type Resource } from './bicep';

const FILE_PROPERTIES = ['dataset', 'path', 'status', 'rows_read', 'rows_silver', 'rows_quarantined', 'duplicates', 'duration_ms', 'latency_ms'];

let monitoring: BicepFile;
let workbook: { version: string; items: any[]; fallbackResourceIds: string[] };

beforeAll(async () => {
  monitoring = await loadBicep('infra/app/monitoring.bicep');
  workbook = JSON.parse(readRepoFile('infra/app/workbook.json'));
});

/** Rough KQL well-formedness: balanced brackets and quotes outside of strings. */
function kqlProblems(kql: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  let quote: string | null = null;
  for (let i = 0; i < kql.length; i++) {
    const c = kql[i]!;
    if (quote) {
      if (c === quote) quote = null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '(' || c === '[' || c === '{') stack.push(c);
    else if (c in pairs) {
      if (stack.pop() !== pairs[c]) problems.push(`unbalanced '${c}' at ${i}`);
    }
  }
  if (quote) problems.push('unterminated string');
  if (stack.length) problems.push(`unclosed ${stack.join('')}`);
  return problems;
}

function rule(name: string): Resource {
  const r = monitoring.resourcesOfType('Microsoft.Insights/scheduledQueryRules').find((x) => x.symbol === name);
  expect(r, name).toBeDefined();
  return r!;
}

function ruleQuery(r: Resource): string {
  // query: '${fileEventsKql}${...}' -> substitute the variables' text
  const q = monitoring.get(r.body, 'properties', 'criteria', 'allOf');
  const criterion = q!.namedChildren.find((c) => c?.type === 'object')!;
  const queryNode = objectEntries(criterion).get('query')!;
  expect(queryNode.type).toBe('string');
  return queryNode.text.slice(1, -1).replace(/\$\{(\w+)\}/g, (_m, v: string) => String(monitoring.evaluate(monitoring.vars.get(v)))).replace(
    /\$\{replace\(quarantineRateKql, '__THRESHOLD__', string\(quarantineRateThresholdPercent\)\)\}/,
    () => String(monitoring.evaluate(monitoring.vars.get('quarantineRateKql'))).replace('__THRESHOLD__', '5'),
  );
}

describe('alert rules', () => {
  it('the shared file-records query reads medallion.file from customEvents or traces', () => {
    const kql = monitoring.evaluate(monitoring.vars.get('fileEventsKql')) as string;
    expect(kql).toContain("customEvents\n    | where name == 'medallion.file'");
    expect(kql).toContain("traces\n    | where message contains 'medallion.file'");
    expect(kqlProblems(kql)).toEqual([]);
  });

  it('function failures: failed invocations or failed files, per source, above a threshold parameter', () => {
    const r = rule('functionFailuresAlert');
    const criterion = monitoring.get(r.body, 'properties', 'criteria', 'allOf')!.namedChildren.find((c) => c?.type === 'object')!;
    expect(objectEntries(criterion).get('threshold')?.text).toBe('functionFailureThreshold');
    expect(monitoring.evaluate(objectEntries(criterion).get('operator'))).toBe('GreaterThan');
    const kql = ruleQuery(r);
    expect(kql).toContain('requests\n    | where success == false');
    expect(kql).toContain("where status == 'failed'");
    expect(kqlProblems(kql)).toEqual([]);
    expect(monitoring.evaluate(monitoring.get(r.body, 'kind'))).toBe('LogAlert');
    expect(monitoring.get(r.body, 'properties', 'scopes')?.text).toContain('appInsights.id');
  });

  it('quarantine rate: per dataset, above the threshold parameter', () => {
    const r = rule('quarantineRateAlert');
    const criterion = monitoring.get(r.body, 'properties', 'criteria', 'allOf')!.namedChildren.find((c) => c?.type === 'object')!;
    expect(objectEntries(criterion).get('query')?.text).toContain("replace(quarantineRateKql, '__THRESHOLD__', string(quarantineRateThresholdPercent))");
    const template = monitoring.evaluate(monitoring.vars.get('quarantineRateKql')) as string;
    expect(template).toContain('100.0 * rows_quarantined / rows_read');
    expect(template).toContain('where quarantine_pct > __THRESHOLD__');
    const kql = ruleQuery(r);
    expect(kql).toContain('where quarantine_pct > 5');
    expect(kqlProblems(kql)).toEqual([]);
    expect(monitoring.evaluate(objectEntries(criterion).get('dimensions'))).toEqual([{ name: 'dataset', operator: 'Include', values: ['*'] }]);
  });

  it('both rules notify the action group when an e-mail address is given', () => {
    for (const name of ['functionFailuresAlert', 'quarantineRateAlert']) {
      expect(monitoring.get(rule(name).body, 'properties', 'actions', 'actionGroups')?.text).toBe(
        "notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []",
      );
    }
    expect(monitoring.resource('actionGroup').condition?.text).toBe('(notify)');
  });
});

describe('workbook (infra/app/workbook.json)', () => {
  const queries = () => workbook.items.filter((i) => i.type === 3).map((i) => i.content);

  it('is a Notebook/1.0 workbook deployed with the Application Insights id substituted', () => {
    expect(workbook.version).toBe('Notebook/1.0');
    expect(workbook.fallbackResourceIds).toEqual(['__APP_INSIGHTS_ID__']);
    const wb = monitoring.resourcesOfType('Microsoft.Insights/workbooks')[0]!;
    expect(monitoring.get(wb.body, 'properties', 'serializedData')?.text).toBe(
      "replace(loadTextContent('workbook.json'), '__APP_INSIGHTS_ID__', appInsights.id)",
    );
    expect(monitoring.get(wb.body, 'properties', 'sourceId')?.text).toBe('appInsights.id');
    expect(monitoring.evaluate(monitoring.get(wb.body, 'kind'))).toBe('shared');
  });

  it('every query runs against Application Insights over the selected time range and is well-formed', () => {
    expect(queries().length).toBeGreaterThanOrEqual(5);
    for (const q of queries()) {
      expect(q.queryType, q.title).toBe(0);
      expect(q.resourceType, q.title).toBe('microsoft.insights/components');
      expect(q.timeContextFromParameter, q.title).toBe('TimeRange');
      expect(q.query, q.title).toContain('{TimeRange}');
      expect(kqlProblems(q.query), q.title).toEqual([]);
    }
  });

  it('shows per dataset: files and rows ingested, quarantine %, failures and drop-to-silver latency', () => {
    const perDataset = queries().find((q) => /per dataset/i.test(q.title));
    expect(perDataset).toBeDefined();
    const kql: string = perDataset.query;
    expect(kql).toContain('by dataset');
    for (const column of ['files = count()', 'rows_read = sum(rows_read)', 'rows_silver = sum(rows_silver)', 'rows_quarantined = sum(rows_quarantined)', 'quarantine_pct', "failed = countif(status == 'failed')", 'percentile(latency_ms, 95)']) {
      expect(kql).toContain(column);
    }
  });

  it('reads every property of the medallion.file record', () => {
    const kql = queries()[0].query as string;
    for (const p of FILE_PROPERTIES) expect(kql, p).toContain(`p.${p}`);
  });

  it('has a time range and a dataset filter', () => {
    const params = workbook.items.find((i) => i.type === 9).content.parameters;
    expect(params.map((p: any) => p.name)).toEqual(['TimeRange', 'Dataset']);
    for (const q of queries()) expect(q.query, q.title).toMatch(/\{Dataset\}|requests/);
  });
});

describe('every medallion.file record counts; health checks alert (issue "Azure for real")', () => {
  it('host.json keeps Request, Exception, Trace and Event out of adaptive sampling', () => {
    const host = JSON.parse(readRepoFile('host.json'));
    const excluded = String(host.logging.applicationInsights.samplingSettings.excludedTypes).split(';');
    expect(excluded.sort()).toEqual(['Event', 'Exception', 'Request', 'Trace']);
  });

  it('file records without a dataset are kept and shown as (no dataset), in the alerts and the workbook', () => {
    const kql = monitoring.evaluate(monitoring.vars.get('fileEventsKql')) as string;
    expect(kql).not.toContain('isnotempty(p.dataset)');
    expect(kql).toContain("iff(isempty(tostring(p.dataset)), '(no dataset)', tostring(p.dataset))");
    const all = [...workbook.items.filter((i) => i.type === 3).map((i) => i.content.query as string), workbook.items.find((i) => i.type === 9).content.parameters[1].query as string];
    for (const q of all.filter((q) => q.includes('medallion.file'))) {
      expect(q).not.toContain('isnotempty(p.dataset)');
      expect(q).toContain("'(no dataset)'");
    }
  });

  it('failed files of any dataset alert, per dataset', () => {
    const r = rule('failedFilesAlert');
    const kql = ruleQuery(r);
    expect(kql).toContain("where status == 'failed'");
    expect(kql).not.toContain('isnotempty(p.dataset)');
    expect(kqlProblems(kql)).toEqual([]);
    const criterion = monitoring.get(r.body, 'properties', 'criteria', 'allOf')!.namedChildren.find((c) => c?.type === 'object')!;
    expect(monitoring.evaluate(objectEntries(criterion).get('threshold'))).toBe(0);
    expect(monitoring.evaluate(objectEntries(criterion).get('dimensions'))).toEqual([{ name: 'dataset', operator: 'Include', values: ['*'] }]);
  });

  it('a failed health check (medallion.health, status fail) in the last hour alerts', () => {
    const r = rule('healthCheckAlert');
    expect(monitoring.evaluate(monitoring.get(r.body, 'properties', 'windowSize'))).toBe('PT1H');
    const kql = ruleQuery(r);
    expect(kql).toContain("where name == 'medallion.health'");
    expect(kql).toContain("where message contains 'medallion.health'");
    for (const p of ['check', 'dataset', 'status', 'value', 'threshold', 'message']) expect(kql, p).toContain(`p.${p}`);
    expect(kql).toContain("where status == 'fail'");
    expect(kqlProblems(kql)).toEqual([]);
    expect(monitoring.get(r.body, 'properties', 'actions', 'actionGroups')?.text).toBe("notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []");
  });

  it('the workbook has a health checks tile', () => {
    const tile = workbook.items.find((i) => i.name === 'health-checks');
    expect(tile).toBeDefined();
    expect(tile.content.query).toContain("'medallion.health'");
    expect(tile.content.query).toContain('{TimeRange}');
    expect(kqlProblems(tile.content.query)).toEqual([]);
  });
});
