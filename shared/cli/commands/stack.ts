import path from 'node:path';
import { medallionHome } from '../../config';
import { startLocalStack, stopDetachedStack } from '../../local/stack';
import { parseArgs, UsageError } from '../args';
import type { CliCommand } from '../command';

export const stackCommand: CliCommand = {
  name: 'stack',
  usage: 'medallion stack start|stop',
  summary: 'keep the local Azurite + PostgreSQL running in the background (start), or stop them',
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const home = path.resolve(medallionHome(ctx.env));
    const action = args.positional[0];
    if (action === 'start') {
      const stack = await startLocalStack({ home, detached: true });
      ctx.out(`local stack ${stack.owned ? 'started' : 'already running'} under ${home}`);
      ctx.out(`LakeStorage="${stack.lakeConnectionString}"`);
      ctx.out(`DATABASE_URL=${stack.databaseUrl.replace(/:[^:@/]+@/, ':***@')}  (full value in ${path.join(home, 'stack.json')})`);
      return 0;
    }
    if (action === 'stop') {
      const stopped = await stopDetachedStack(home);
      ctx.out(stopped ? 'local stack stopped' : 'no local stack was running');
      return 0;
    }
    throw new UsageError(`usage: ${stackCommand.usage}`);
  },
};
