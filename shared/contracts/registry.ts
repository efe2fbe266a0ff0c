import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Contract, ContractError, IDENTIFIER, validateContract } from './contract';

/**
 * The datasets the platform knows: every folder under shared/datasets/ with a contract file.
 * Adding a dataset is adding a folder; nothing else in the pipeline changes.
 */
export class ContractRegistry {
  private readonly byName = new Map<string, Contract>();

  constructor(contracts: Contract[]) {
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

export function datasetsDir(): string {
  return path.resolve(__dirname, '..', 'datasets');
}

/** Loads every shared/datasets/<name>/contract module (compiled .js, or .ts under vitest). */
export async function loadContracts(dir = datasetsDir()): Promise<ContractRegistry> {
  const contracts: Contract[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const base = path.join(dir, entry.name, 'contract');
    const file = ['.js', '.ts'].map((ext) => base + ext).find((f) => existsSync(f));
    if (!file) continue;
    const mod = (await import(pathToFileURL(file).href)) as { default?: Contract | { default?: Contract } };
    let contract = mod.default as Contract | undefined;
    if (contract && 'default' in (contract as object)) contract = (contract as unknown as { default: Contract }).default;
    if (!contract) throw new ContractError(`${file} has no default export`);
    if (contract.name !== entry.name) throw new ContractError(`${file}: the contract's name '${contract.name}' must match its folder '${entry.name}'`);
    contracts.push(contract);
  }
  return new ContractRegistry(contracts);
}
