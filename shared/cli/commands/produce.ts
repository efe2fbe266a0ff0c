import type { CliCommand } from '../command';

// Placeholder: the streaming path (issue 5) replaces this module.
export const produceCommand: CliCommand = {
  name: 'produce',
  usage: 'medallion produce customers [--count N] [--rate R] [--updates P] [--from <csv>] [--to bronze]',
  summary: 'send customer records to Event Hubs (or straight to bronze)',
  async run(_argv, ctx) {
    ctx.err('the streaming producer is not built yet');
    return 2;
  },
};
