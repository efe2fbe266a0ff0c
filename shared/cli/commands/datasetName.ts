import { type Contract, ContractError } from '../../contracts/contract';
import type { ContractRegistry } from '../../contracts/registry';
import { editDistance, shown, UsageError } from '../args';

/**
 * A dataset named on the command line (`--dataset <name>`, `medallion dataset rebuild <name>`):
 * every command refuses a name no dataset has the same way — a usage error (exit 2), one line
 * naming the known datasets and the closest one when it is at most two edits away:
 * `unknown dataset 'custmers' (known: customers, ecommerce_events); did you mean customers?`.
 */
export function unknownDataset(name: string, contracts: ContractRegistry): UsageError {
  const known = [...new Set([...contracts.all().map((c) => c.name), ...contracts.broken.keys()])].sort();
  let near: { name: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k);
    if (d <= 2 && d < k.length && (!near || d < near.d)) near = { name: k, d };
  }
  return new UsageError(`unknown dataset '${shown(name)}' (known: ${known.join(', ') || 'none'})${near ? `; did you mean ${near.name}?` : ''}`);
}

/** Refuses (usage error, exit 2) a name that is no dataset; a dataset whose contract does not load is known. */
export function knownDataset(name: string, contracts: ContractRegistry): void {
  if (!contracts.get(name) && !contracts.broken.has(name)) throw unknownDataset(name, contracts);
}

/**
 * The contract of a named dataset, for a command that needs it: an unknown name is a usage error
 * (exit 2); a dataset whose contract does not load is a configuration problem (exit 2) saying what
 * to fix, in one line.
 */
export function loadedDataset(name: string, contracts: ContractRegistry): Contract {
  const broken = contracts.broken.get(name);
  if (broken) throw new ContractError(broken.replace(/\s*\n\s*/g, ' '));
  const contract = contracts.get(name);
  if (!contract) throw unknownDataset(name, contracts);
  return contract;
}
