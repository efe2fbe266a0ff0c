import type { CliCommand } from '../command';

// Placeholder: the gold layer (issue 3) replaces this module.
export const goldCommand: CliCommand = {
  name: 'gold',
  usage: 'medallion gold refresh [--full]',
  summary: 'recompute the gold tables (incrementally, or --full) and export them to the lake',
  async run(_argv, ctx) {
    ctx.err('the gold layer is not built yet');
    return 2;
  },
};
