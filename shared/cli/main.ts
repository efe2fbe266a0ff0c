import { ConfigError } from '../config';
import { ContractError } from '../contracts/contract';
import { UsageError } from './args';
import type { CliCommand } from './command';
import { devCommand } from './commands/dev';
import { generateCommand } from './commands/generate';
import { goldCommand } from './commands/gold';
import { ingestCommand } from './commands/ingest';
import { produceCommand } from './commands/produce';
import { sqlCommand } from './commands/sql';
import { stackCommand } from './commands/stack';
import { statusCommand } from './commands/status';
import { type CliContext, defaultContext } from './context';

export const COMMANDS: CliCommand[] = [ingestCommand, statusCommand, sqlCommand, goldCommand, devCommand, produceCommand, generateCommand, stackCommand];

function help(ctx: CliContext): void {
  ctx.out('medallion — bronze → silver → gold on Azure Functions (local stack: Azurite + PostgreSQL)\n');
  for (const c of COMMANDS) ctx.out(`  ${c.usage}\n      ${c.summary}`);
  ctx.out('\nWith no LakeStorage / DATABASE_URL set, commands start the local stack under MEDALLION_HOME (default ./.medallion).');
}

export async function main(argv: string[], ctx: CliContext = defaultContext): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    help(ctx);
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    ctx.err(`unknown command '${name}'`);
    help(ctx);
    return 2;
  }
  try {
    return await command.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.err(`${e.message}\nusage: ${command.usage}`);
      return 2;
    }
    if (e instanceof ConfigError || e instanceof ContractError) {
      ctx.err(`configuration problem: ${e.message}`);
      return 2;
    }
    ctx.err(`medallion ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
