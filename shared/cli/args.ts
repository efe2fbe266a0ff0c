export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}

/**
 * How a command's flag is used: `boolean` never takes a value (--json); `value` takes one
 * (--dataset x); `list` takes one comma-separated list (--entity deals,stages; see listFlag).
 * A value or list flag may be given once.
 */
export type FlagKind = 'boolean' | 'value' | 'list';

export interface FlagSpec {
  /** How messages name the command: 'medallion extract', 'medallion gold refresh'. */
  command: string;
  /** Every flag the command knows, in the order its usage lists them (messages list them so). */
  flags: Record<string, FlagKind>;
}

/** Flags shared/cli/main.ts takes out of every command's arguments (--verbose, --help, -h). */
const GLOBAL_FLAGS = ['verbose', 'help'];

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known flag closest to `name` when it is at most 2 edits away (and not every character of it
 * differs: `--x` is not a typo of `--to`); the command's own flags before the global ones.
 */
export function closestFlag(name: string, known: readonly string[]): string | undefined {
  let best: { flag: string; d: number } | undefined;
  for (const flag of [...known, ...GLOBAL_FLAGS]) {
    const d = editDistance(name.toLowerCase(), flag);
    if (d <= 2 && d < flag.length && (!best || d < best.d)) best = { flag, d };
  }
  return best?.flag;
}

/** Text from the command line as a message shows it: control characters escaped (a message stays one line), at most 80 characters. */
export function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
  return escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped;
}

function unknownFlag(token: string, name: string, spec: FlagSpec): UsageError {
  const known = Object.keys(spec.flags);
  const list = known.length ? `known: ${known.map((f) => `--${f}`).join(', ')}` : 'it takes no flags';
  const near = name ? closestFlag(name, known) : undefined;
  return new UsageError(`unknown flag '${shown(token)}' for ${spec.command} (${list})${near ? `; did you mean --${near}?` : ''}`);
}

/**
 * Parses --name value, --name=value and --bool; `--` ends the flags (the rest are positional).
 *
 * With a FlagSpec, every flag must be one the command knows. Usage errors (exit 2, one line): an
 * unknown flag (a short `-x` too), naming the command's flags and the closest one when it is at
 * most 2 edits away; a value or list flag given twice; a value or list flag without a value (or an
 * empty one); a list with an empty item (`deals,,stages`); a value given to a boolean flag. The
 * global flags never get here: main() takes them out first.
 *
 * Without one (a list of boolean flags, the old form), anything is taken and a repeated flag keeps
 * its last value — for a caller not yet moved to a FlagSpec.
 */
export function parseArgs(argv: string[], spec: FlagSpec | string[] = []): ParsedArgs {
  const checked = Array.isArray(spec) ? undefined : spec;
  const booleans = Array.isArray(spec) ? spec : Object.keys(spec.flags).filter((f) => spec.flags[f] === 'boolean');
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const inline = eq > 0 ? a.slice(eq + 1) : undefined;
      if (checked) {
        if (GLOBAL_FLAGS.includes(name)) {
          // main() takes out --verbose and --help; one with a value is a mistake, one alone (a caller
          // that skipped main()) changes nothing here.
          if (inline !== undefined) throw new UsageError(`--${name} takes no value (a global flag: --${name} alone)`);
          continue;
        }
        if (!Object.hasOwn(checked.flags, name)) throw unknownFlag(eq > 0 ? a.slice(0, eq) : a, name, checked);
        const kind = checked.flags[name]!;
        if (kind === 'boolean') {
          if (inline !== undefined) throw new UsageError(`--${name} takes no value, got '${shown(inline)}'`);
          flags[name] = true;
          continue;
        }
        const value = inline ?? (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') ? argv[++i]! : undefined);
        if (value === undefined || value.trim() === '') throw new UsageError(`--${name} needs a value`);
        if (flags[name] !== undefined) {
          const hint = kind === 'list' ? `: pass one comma-separated list (--${name} ${shown(`${flags[name]},${value}`)})` : `: pass it once ('${shown(String(flags[name]))}', then '${shown(value)}')`;
          throw new UsageError(`--${name} given more than once${hint}`);
        }
        if (kind === 'list') listItems(name, value);
        flags[name] = value;
        continue;
      }
      if (inline !== undefined) flags[name] = inline;
      else if (booleans.includes(name) || i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) flags[name] = true;
      else flags[name] = argv[++i]!;
    } else if (checked && /^-[A-Za-z]/.test(a)) {
      // A short option: the command has none (-h is taken out by main()). `--` passes such a name on.
      throw unknownFlag(a, '', checked);
    } else positional.push(a);
  }
  return { positional, flags };
}

/** The value of a value flag; undefined when it is not given. An empty value is a usage error. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  if (v === true || (v !== undefined && v.trim() === '')) throw new UsageError(`--${name} needs a value`);
  return v;
}

/** The items of a list flag (`--entity deals,stages`), trimmed; undefined when it is not given. An empty item is a usage error. */
export function listFlag(args: ParsedArgs, name: string): string[] | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  return listItems(name, v);
}

function listItems(name: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${name} '${shown(value)}' has an empty item: separate the names with single commas (--${name} a,b)`);
  return items;
}

export function numberFlag(args: ParsedArgs, name: string, fallback: number): number {
  const v = stringFlag(args, name);
  if (v === undefined) return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number, got '${v}'`);
  return n;
}

/** Refuses positional arguments a command (or subcommand) does not take. */
export function noPositionals(args: ParsedArgs, command: string): void {
  if (args.positional.length) throw new UsageError(`unexpected argument '${shown(args.positional[0]!)}' for ${command}`);
}
