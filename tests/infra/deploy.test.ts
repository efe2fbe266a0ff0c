/**
 * One-command deployment: azure.yaml, the azd parameter file, the Bicep linter configuration, the
 * GitHub Actions workflow, and the deployment documentation.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBicep, readRepoFile, REPO, type BicepFile } from './bicep';
import { parseYaml } from './yaml';

let main: BicepFile;
let functionApp: BicepFile;

beforeAll(async () => {
  main = await loadBicep('infra/main.bicep');
  functionApp = await loadBicep('infra/app/functionapp.bicep');
});

describe('azure.yaml', () => {
  const azureYaml = () => parseYaml(readRepoFile('azure.yaml')) as Record<string, any>;

  it('provisions infra/main.bicep with Bicep', () => {
    expect(azureYaml().infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
    expect(existsSync(path.join(REPO, 'infra/main.bicep'))).toBe(true);
  });

  it('deploys the repository root as a TypeScript function app to the app tagged with its service name', () => {
    const services = azureYaml().services;
    const names = Object.keys(services);
    expect(names).toHaveLength(1);
    const service = services[names[0]!];
    expect(service).toMatchObject({ project: '.', language: 'ts', host: 'function' });
    expect(functionApp.evaluate(functionApp.param('serviceName').defaultValue)).toBe(names[0]);
    expect(existsSync(path.join(REPO, service.project, 'package.json'))).toBe(true);
    expect(existsSync(path.join(REPO, service.project, 'host.json'))).toBe(true);
  });
});

describe('infra/main.parameters.json', () => {
  const parameters = () => JSON.parse(readRepoFile('infra/main.parameters.json')).parameters as Record<string, { value: unknown }>;

  it('maps only parameters main.bicep declares', () => {
    for (const name of Object.keys(parameters())) expect(main.params.has(name), name).toBe(true);
  });

  it('gives every required parameter of main.bicep a value from the azd environment', () => {
    for (const p of main.params.values()) {
      if (p.defaultValue) continue;
      expect(parameters()[p.name], p.name).toBeDefined();
    }
    expect(parameters().environmentName!.value).toBe('${AZURE_ENV_NAME}');
    expect(parameters().location!.value).toBe('${AZURE_LOCATION}');
    expect(parameters().principalId!.value).toBe('${AZURE_PRINCIPAL_ID}');
  });

  it('defaults in ${VAR=default} are allowed values of their parameters', () => {
    for (const [name, { value }] of Object.entries(parameters())) {
      const m = /^\$\{[A-Z_]+=(.*)\}$/.exec(String(value));
      if (!m) continue;
      const p = main.param(name);
      const allowed = p.decorators.find((d) => d.name === 'allowed');
      const raw = m[1]!;
      const typed = p.type === 'int' ? Number(raw) : p.type === 'bool' ? raw === 'true' : raw;
      if (allowed) expect(main.evaluate(allowed.args[0]), name).toContain(typed);
      if (p.type === 'int') expect(Number.isInteger(typed), name).toBe(true);
      // The azd default equals the Bicep default, so leaving the variable unset changes nothing.
      if (p.defaultValue) expect(main.evaluate(p.defaultValue), name).toEqual(typed);
    }
  });
});

describe('infra/bicepconfig.json', () => {
  it('enables the linter with the security rules as errors', () => {
    const config = JSON.parse(readRepoFile('infra/bicepconfig.json'));
    expect(config.analyzers.core.enabled).toBe(true);
    const rules = config.analyzers.core.rules as Record<string, { level: string }>;
    for (const rule of [
      'no-unused-params',
      'no-unused-vars',
      'no-hardcoded-env-urls',
      'no-hardcoded-location',
      'outputs-should-not-contain-secrets',
      'secure-secrets-in-params',
      'use-stable-resource-identifiers',
    ]) {
      expect(rules[rule]?.level, rule).toBe('error');
    }
    for (const [rule, { level }] of Object.entries(rules)) expect(['error', 'warning', 'info', 'off'], rule).toContain(level);
  });
});

describe('.github/workflows/ci.yml', () => {
  const workflow = () => parseYaml(readRepoFile('.github/workflows/ci.yml')) as Record<string, any>;
  const steps = (job: string) => (workflow().jobs[job].steps as Array<Record<string, string>>).map((s) => `${s.uses ?? ''} ${s.run ?? ''}`);

  it('runs on pull requests and pushes to main', () => {
    expect(workflow().on.push.branches).toEqual(['main']);
    expect('pull_request' in workflow().on).toBe(true);
  });

  it('runs the tests and the type-check', () => {
    const s = steps('test').join('\n');
    expect(s).toContain('npm ci');
    expect(s).toContain('npm run typecheck');
    expect(s).toContain('npx vitest run');
  });

  it('builds and lints every Bicep file', () => {
    const s = steps('bicep').join('\n');
    expect(s).toContain('az bicep build --file "$file"');
    expect(s).toContain('az bicep lint --file "$file"');
    expect(s).toContain('infra/main.bicep infra/app/*.bicep');
  });

  it('runs what-if after the tests and the Bicep checks, with OIDC', () => {
    const job = workflow().jobs['what-if'];
    expect(job.needs).toEqual(['test', 'bicep']);
    expect(job.permissions['id-token']).toBe('write');
    expect(steps('what-if').join('\n')).toContain('azd provision --preview');
  });

  it('deploys main only, after what-if, behind the production environment approval', () => {
    const job = workflow().jobs.deploy;
    expect(job.needs).toBe('what-if');
    expect(job.environment).toBe('production');
    expect(job.if).toContain("github.ref == 'refs/heads/main'");
    expect(job.if).toContain("github.event_name == 'push'");
    expect(job.permissions['id-token']).toBe('write');
    const s = steps('deploy').join('\n');
    expect(s).toContain('azd up --no-prompt');
    expect(s).toContain('azure/login@');
    // No secret: everything comes from repository variables and OIDC.
    expect(readRepoFile('.github/workflows/ci.yml')).not.toMatch(/secrets\./);
  });
});

describe('README.md Deploy and Monitor sections', () => {
  it('has the Deploy and Monitor sections with what the README needs', () => {
    const doc = readRepoFile('README.md');
    expect(doc).toMatch(/^## Deploy$/m);
    expect(doc).toMatch(/^## Monitor$/m);
    for (const text of ['azd up', 'azd down --purge', 'Flex Consumption', 'B1ms', 'throughput unit', 'postdeploy', 'customEvents', 'traces', 'workbook']) {
      expect(doc, text).toContain(text);
    }
  });
});
