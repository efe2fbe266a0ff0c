import { existsSync, readdirSync } from 'node:fs';
import { hiveValues, pathMatchesPattern, patternsOverlap } from './bronzePath';
import { type Contract, ContractError, IDENTIFIER, tableOf, validateContract } from './contract';
import { loadContractFile, rememberDatasetFolder, resolveDatasetsDir } from './load';
import { checkContractSql } from './validate';

/**
 * The datasets the platform knows: every folder under shared/datasets/ with a contract file.
 * Adding a dataset is adding a folder; nothing else in the pipeline changes.
 */
export class ContractRegistry {
  private readonly byName = new Map<string, Contract>();

  /**
   * @param broken datasets whose contract cannot be loaded (folder name → what is wrong): they
   *   are left out, and only their files are refused, so one bad edit never stops the others.
   */
  constructor(
    contracts: Contract[],
    readonly broken: ReadonlyMap<string, string> = new Map(),
  ) {
    for (const c of contracts) {
      validateContract(c);
      if (this.byName.has(c.name)) throw new ContractError(`two contracts are named '${c.name}'`);
      this.byName.set(c.name, c);
    }
    // No bronze path may belong to two datasets (shared/contracts/bronzePath.ts).
    for (const [i, a] of contracts.entries()) {
      for (const b of contracts.slice(i + 1)) {
        if (patternsOverlap(bronzeMatch(a), bronzeMatch(b))) {
          throw new ContractError(`the bronze paths of '${a.name}' (${bronzeMatch(a)}) and '${b.name}' (${bronzeMatch(b)}) overlap: a file under both would belong to two datasets`);
        }
      }
    }
    const tables = new Map<string, string>();
    for (const c of contracts) {
      const t = tableOf(c);
      const key = `${t.schema}.${t.name}`;
      const other = tables.get(key);
      if (other) throw new ContractError(`'${other}' and '${c.name}' both land in ${key}`);
      tables.set(key, c.name);
    }
  }

  all(): Contract[] {
    return [...this.byName.values()];
  }

  get(name: string): Contract | undefined {
    return IDENTIFIER.test(name) ? this.byName.get(name) : undefined;
  }

  /**
   * Why the dataset a bronze path seems to belong to is not loaded, if it is broken: the dataset
   * named like its first folder, or, for a folder of several datasets (`<source>/…/entity=<e>/…`),
   * the one named `<source>_<e>` (the API sources' staging datasets).
   */
  brokenFor(bronzePath: string): string | undefined {
    const first = bronzePath.split('/')[0] ?? '';
    const entity = hiveValues(bronzePath).entity;
    return this.broken.get(first) ?? (entity ? this.broken.get(`${first}_${entity}`) : undefined);
  }

  /** The contract owning a bronze path (by prefix, then pattern), if any. */
  forPath(bronzePath: string): Contract | undefined {
    return this.all().find((c) => ownsPath(c, bronzePath));
  }

  describePrefixes(): string {
    return this.all()
      .map((c) => `'${bronzeMatch(c)}' (${c.name})`)
      .join(', ');
  }
}

/** What a contract's bronze paths look like: its pattern, else its prefix. */
export function bronzeMatch(c: Pick<Contract, 'bronzePrefix' | 'bronzePattern'>): string {
  return c.bronzePattern ?? c.bronzePrefix;
}

/** Whether a bronze path belongs to the contract: under its prefix and, when it has one, matching its pattern. */
export function ownsPath(c: Pick<Contract, 'bronzePrefix' | 'bronzePattern'>, bronzePath: string): boolean {
  return bronzePath.startsWith(c.bronzePrefix) && (c.bronzePattern === undefined || pathMatchesPattern(c.bronzePattern, bronzePath));
}

/** The datasets folder contracts are loaded from by default (see resolveDatasetsDir). */
export function datasetsDir(env: Record<string, string | undefined> = process.env): string {
  return resolveDatasetsDir(env);
}

/**
 * Loads every <dir>/<name>/contract (from source: contract.ts transpiled on the fly, so an edit
 * is seen without a build; compiled contract.js only where no source exists), validates each
 * (shape, then its SQL compiled by DuckDB) and remembers each dataset's folder for its gold SQL.
 */
export async function loadContracts(dir = datasetsDir()): Promise<ContractRegistry> {
  const contracts: Contract[] = [];
  const folders: [string, string][] = [];
  const broken = new Map<string, string>();
  if (!existsSync(dir)) throw new ContractError(`the datasets folder ${dir} does not exist (set MEDALLION_DATASETS_DIR to the folder holding <dataset>/contract.ts)`);
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isDirectory()) continue;
    try {
      const loaded = loadContractFile(dir, entry.name);
      if (!loaded) continue;
      const { contract, file } = loaded;
      if (contract.name !== entry.name) throw new ContractError(`${file}: the contract's name '${contract.name}' must match its folder '${entry.name}'`);
      validateContract(contract);
      await checkContractSql(contract);
      contracts.push(contract);
      folders.push([contract.name, loaded.folder]);
    } catch (e) {
      // One broken contract blocks its own dataset only: status, sql and the others keep working.
      const message = e instanceof Error ? e.message : String(e);
      broken.set(entry.name, `dataset '${entry.name}' is not loaded: ${message.replace(/\s+$/, '')} — fix shared/datasets/${entry.name}/contract.ts; its files are refused until then`);
    }
  }
  const registry = new ContractRegistry(contracts, broken);
  for (const [name, folder] of folders) rememberDatasetFolder(name, folder);
  return registry;
}
