import path from 'node:path';
import { medallionHome } from '../../config';
import { startLocalStack, stackPaths, stopDetachedStack } from '../../local/stack';
import { parseArgs, shown, UsageError } from '../args';
import type { CliCommand } from '../command';

export const stackCommand: CliCommand = {
  name: 'stack',
  usage: 'medallion stack start|stop',
  summary: 'keep the local Azurite + PostgreSQL running in the background until `medallion stack stop` (start), or stop them (stop)',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion stack', flags: {} });
    if (args.positional.length > 1) throw new UsageError(`unexpected argument '${shown(args.positional[1]!)}' for medallion stack ${args.positional[0]}`);
    const home = path.resolve(medallionHome(ctx.env));
    const action = args.positional[0];
    if (action === 'start') {
      // Detached and pinned: both services keep running after this command exits, and commands
      // run meanwhile share them without ever stopping them.
      const stack = await startLocalStack({ home, detached: true, log: (l) => ctx.err(l), debug: (l) => ctx.log.info(l) });
      ctx.out(`local stack ${stack.owned ? 'started' : 'already running'} under ${home}; it keeps running until \`medallion stack stop\``);
      ctx.out(`LakeStorage="${stack.lakeConnectionString}"`);
      ctx.out(`DATABASE_URL=${stack.databaseUrl.replace(/:[^:@/]+@/, ':***@')}  (password in ${stackPaths(home).password}; full URL in ${stackPaths(home).state})`);
      return 0;
    }
    if (action === 'stop') {
      const stopped = await stopDetachedStack(home, (l) => ctx.err(l));
      ctx.out(stopped ? 'local stack stopped' : 'no local stack was running');
      return 0;
    }
    throw new UsageError(action ? `unknown stack action '${action}' (start or stop)` : 'say what to do: start or stop');
  },
};
