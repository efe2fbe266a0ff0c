import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { resolveFromRoot } from '../projectRoot';
import { type Contract, ContractError } from './contract';

/**
 * Loading contracts from SOURCE: shared/datasets/<name>/contract.ts is transpiled on the fly
 * (the `typescript` package's transpileModule), so an edited contract is seen by the next
 * command without `npm run build`. Compiled contracts (dist/shared/datasets/<name>/contract.js)
 * are used only where no source exists, or where `typescript` is not installed (a deployed
 * package ships without devDependencies). Gold SQL is read from the folder the contract came from.
 */

type Env = Record<string, string | undefined>;

/** The platform's own datasets folder next to this module (dist/shared/datasets when compiled). */
function platformDatasetsDir(): string {
  return path.resolve(__dirname, '..', 'datasets');
}

function hasContract(dir: string, ext: '.ts' | '.js'): boolean {
  return existsSync(path.join(dir, `contract${ext}`));
}

/**
 * Where the dataset folders are: MEDALLION_DATASETS_DIR when set, else the repository's source
 * folder (shared/datasets under the project root) when it exists, else the compiled one.
 */
export function resolveDatasetsDir(env: Env = process.env): string {
  if (env.MEDALLION_DATASETS_DIR) return path.resolve(env.MEDALLION_DATASETS_DIR);
  try {
    const source = resolveFromRoot('shared', 'datasets');
    if (existsSync(source)) return source;
  } catch {
    // no project root (a bundled deployment): the compiled folder
  }
  return platformDatasetsDir();
}

/** Dataset name → the folder its contract was loaded from (gold SQL is read from there). */
const folders = new Map<string, string>();

/** The folder of a loaded dataset (its `gold/` holds the gold models); undefined before loading. */
export function datasetFolder(name: string): string | undefined {
  return folders.get(name);
}

export function rememberDatasetFolder(name: string, folder: string): void {
  folders.set(name, folder);
}

interface TypeScriptApi {
  transpileModule(
    input: string,
    options: { compilerOptions: Record<string, unknown>; fileName: string; reportDiagnostics?: boolean },
  ): { outputText: string; diagnostics?: { category: number; start?: number; messageText: string | { messageText: string } }[] };
  DiagnosticCategory: { Error: number };
  ModuleKind: { CommonJS: number };
  ScriptTarget: { ES2022: number };
}

let tsApi: TypeScriptApi | null | undefined;

/** The `typescript` package (a devDependency): loaded lazily, only when there is source to load. */
function typescript(): TypeScriptApi | null {
  if (tsApi !== undefined) return tsApi;
  try {
    tsApi = createRequire(path.join(__dirname, 'load.js'))('typescript') as TypeScriptApi;
  } catch {
    tsApi = null;
  }
  return tsApi;
}

function transpile(ts: TypeScriptApi, file: string): string {
  const source = readFileSync(file, 'utf8');
  const out = ts.transpileModule(source, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true, inlineSources: true },
  });
  // Syntax errors: transpiling alone would emit code anyway (and `npm run build` would fail later).
  const error = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (error) {
    const before = source.slice(0, error.start ?? 0).split('\n');
    const text = typeof error.messageText === 'string' ? error.messageText : error.messageText.messageText;
    throw new ContractError(`${file}:${before.length}:${(before.at(-1)?.length ?? 0) + 1}: ${text}`);
  }
  return out.outputText;
}

interface NodeModule {
  filename: string;
  paths: string[];
  exports: unknown;
  _compile(code: string, filename: string): void;
}

interface ModuleInternals {
  new (id: string, parent?: unknown): NodeModule;
  _extensions: Record<string, ((m: NodeModule, filename: string) => void) | undefined>;
  _resolveFilename: (request: string, parent: NodeModule | undefined, ...rest: unknown[]) => string;
  _cache: Record<string, unknown>;
  _nodeModulePaths(dir: string): string[];
}

function inside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Runs `fn` with a require hook for .ts files, registered only for its duration. Inside the
 * datasets folder, modules resolve normally (a contract may import helpers next to it); a
 * relative import that leaves the folder (`../../config`) resolves to the running platform's
 * own module, as if the folder were the platform's shared/datasets: contracts copied elsewhere
 * keep working, and they share the platform's module instances when it runs compiled.
 */
function withTypeScript<T>(ts: TypeScriptApi, datasetsDir: string, fn: (M: ModuleInternals) => T): T {
  const M = Module as unknown as ModuleInternals;
  const platformDir = platformDatasetsDir();
  const previousExt = M._extensions['.ts'];
  const previousResolve = M._resolveFilename;
  const loaded: string[] = [];
  M._extensions['.ts'] = (m, filename) => {
    loaded.push(filename);
    m._compile(transpile(ts, filename), filename);
  };
  M._resolveFilename = function (this: unknown, request, parent, ...rest) {
    if (parent?.filename && /^\.\.?(\/|$)/.test(request) && inside(parent.filename, datasetsDir)) {
      const target = path.resolve(path.dirname(parent.filename), request);
      if (!inside(target, datasetsDir) && path.resolve(datasetsDir) !== path.resolve(platformDir)) {
        return previousResolve.call(this, path.join(platformDir, path.relative(datasetsDir, target)), parent, ...rest);
      }
    }
    return previousResolve.call(this, request, parent, ...rest);
  };
  try {
    return fn(M);
  } finally {
    M._resolveFilename = previousResolve;
    if (previousExt) M._extensions['.ts'] = previousExt;
    else delete M._extensions['.ts'];
    // The next load reads the files again (an edited contract or helper is seen).
    for (const f of loaded) delete M._cache[f];
  }
}

function contractOf(mod: unknown, file: string): Contract {
  let value = (mod as { default?: unknown } | undefined)?.default ?? mod;
  if (value && typeof value === 'object' && 'default' in value) value = (value as { default: unknown }).default;
  if (!value || typeof value !== 'object' || !('name' in value)) throw new ContractError(`${file} has no default export (write \`export default <contract>;\`)`);
  return value as Contract;
}

/** Compiles and runs one contract.ts from source; returns its default export. */
function loadSource(ts: TypeScriptApi, datasetsDir: string, file: string): Contract {
  return withTypeScript(ts, datasetsDir, (M) => {
    const m = new M(file);
    m.filename = file;
    m.paths = M._nodeModulePaths(path.dirname(file));
    try {
      m._compile(transpile(ts, file), file);
    } catch (e) {
      throw new ContractError(`${file} failed to load: ${(e as Error).message}`);
    }
    return contractOf(m.exports, file);
  });
}

export interface LoadedContract {
  contract: Contract;
  /** The file it was loaded from (contract.ts from source, or a compiled contract.js). */
  file: string;
  /** The dataset folder (gold SQL lives in its gold/). */
  folder: string;
  fromSource: boolean;
}

/**
 * Loads the contract of one dataset folder: contract.ts from source when it exists and the
 * `typescript` package is installed, else contract.js (the folder's, or the compiled platform's
 * copy of the same dataset); undefined when the folder has no contract.
 */
export function loadContractFile(datasetsDir: string, name: string): LoadedContract | undefined {
  const folder = path.join(datasetsDir, name);
  if (hasContract(folder, '.ts')) {
    const ts = typescript();
    if (ts) {
      const file = path.join(folder, 'contract.ts');
      return { contract: loadSource(ts, datasetsDir, file), file, folder, fromSource: true };
    }
  }
  const compiled = [folder, path.join(platformDatasetsDir(), name)].find((d) => hasContract(d, '.js'));
  if (!compiled) {
    if (hasContract(folder, '.ts')) throw new ContractError(`${path.join(folder, 'contract.ts')}: cannot load a TypeScript contract without the 'typescript' package (npm install), and no compiled contract.js exists`);
    return undefined;
  }
  const file = path.join(compiled, 'contract.js');
  const req = createRequire(file);
  delete (Module as unknown as ModuleInternals)._cache[file];
  return { contract: contractOf(req(file), file), file, folder, fromSource: false };
}
