import { existsSync, readdirSync } from 'node:fs';
import { type Contract, ContractError, IDENTIFIER, validateContract } from './contract';
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
    const prefixes = contracts.map((c) => c.bronzePrefix);
    for (const a of prefixes) for (const b of prefixes) if (a !== b && b.startsWith(a)) throw new ContractError(`bronze prefixes '${a}' and '${b}' overlap`);
  }

  all(): Contract[] {
    return [...this.byName.values()];
  }

  get(name: string): Contract | undefined {
    return IDENTIFIER.test(name) ? this.byName.get(name) : undefined;
  }

  /** Why the dataset a bronze path seems to belong to (its first folder) is not loaded, if it is broken. */
  brokenFor(bronzePath: string): string | undefined {
    return this.broken.get(bronzePath.split('/')[0] ?? '');
  }

  /** The contract owning a bronze path (by prefix), if any. */
  forPath(bronzePath: string): Contract | undefined {
    return this.all().find((c) => bronzePath.startsWith(c.bronzePrefix));
  }

  describePrefixes(): string {
    return this.all()
      .map((c) => `'${c.bronzePrefix}' (${c.name})`)
      .join(', ');
  }
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
