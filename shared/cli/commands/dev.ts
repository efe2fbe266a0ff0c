import { watchBronze } from '../../pipeline/watch';
import { numberFlag, parseArgs } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport } from '../format';

export const devCommand: CliCommand = {
  name: 'dev',
  usage: 'medallion dev [--interval <seconds>]',
  summary: 'keep the local stack up and process files as they land in bronze (Storage Explorer, azcopy, any client)',
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const interval = numberFlag(args, 'interval', 2);
    return withPlatform(
      ctx,
      async (p, env) => {
        ctx.out('medallion dev: watching bronze; drop files under:');
        for (const c of p.contracts.all()) ctx.out(`  bronze/${c.bronzePrefix}   (${c.name})`);
        ctx.out(`lake connection string (Azure Storage Explorer → Attach → Local emulator, or any SDK):\n  ${env.LakeStorage ?? '(configured lake)'}`);
        ctx.out('Ctrl-C to stop.');
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await watchBronze(p, {
            intervalMs: interval * 1000,
            signal: controller.signal,
            onReport: (r) => ctx.out(describeReport(r)),
            onError: (e) => ctx.err(`sweep failed, trying again in ${interval} s: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`),
          });
        } finally {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
        }
        ctx.out('stopped');
        return 0;
      },
    );
  },
};
