import { bronzeMatch } from '../../contracts/registry';
import { watchBronze } from '../../pipeline/watch';
import { startDevStandIn } from '../../sources/standIn/dev';
import { noPositionals, numberFlag, parseArgs, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { stopSignals } from '../interrupt';
import { describeReport } from '../format';

export const devCommand: CliCommand = {
  name: 'dev',
  usage: 'medallion dev [--interval <seconds>] [--stand-in [--stand-in-port <port>]]',
  summary: 'keep the local stack up and process files as they land in bronze (Storage Explorer, azcopy, any client); --stand-in also serves the stand-in Pipedrive/Zendesk API that `medallion extract` can read',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion dev', flags: { interval: 'value', 'stand-in': 'boolean', 'stand-in-port': 'value' } });
    noPositionals(args, 'medallion dev');
    const interval = numberFlag(args, 'interval', 2);
    const standInPort = args.flags['stand-in-port'] === undefined ? undefined : numberFlag(args, 'stand-in-port', 4010);
    if (standInPort !== undefined && args.flags['stand-in'] !== true) throw new UsageError('--stand-in-port is for the stand-in API: add --stand-in');
    if (standInPort !== undefined && !(Number.isInteger(standInPort) && standInPort >= 0 && standInPort <= 65535)) throw new UsageError(`--stand-in-port must be a port from 0 (any free one) to 65535, got '${args.flags['stand-in-port']}'`);
    return withPlatform(
      ctx,
      async (p, env) => {
        ctx.out('medallion dev: watching bronze; drop files under:');
        for (const c of p.contracts.all()) ctx.out(`  bronze/${bronzeMatch(c)}   (${c.name})`);
        ctx.out(`lake connection string (Azure Storage Explorer → Attach → Local emulator, or any SDK):\n  ${env.LakeStorage ?? '(configured lake)'}`);
        const standIn = args.flags['stand-in'] === true ? await startDevStandIn({ port: standInPort }) : undefined;
        for (const line of standIn?.lines ?? []) ctx.out(line);
        ctx.out('Ctrl-C to stop.');
        const stop = stopSignals();
        try {
          await watchBronze(p, {
            intervalMs: interval * 1000,
            signal: stop.signal,
            onReport: (r) => ctx.out(describeReport(r)),
            onError: (e) => {
              const refused = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e));
              const hint = refused ? ' — the database or storage is not answering: was the local stack stopped (medallion stack start)?' : '';
              ctx.err(`sweep failed, trying again in ${interval} s: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}${hint}`);
            },
          });
        } finally {
          stop.dispose();
          await standIn?.standIn.close();
        }
        ctx.out('stopped');
        return 0;
      },
    );
  },
};
