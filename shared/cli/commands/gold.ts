import { formatGoldHighlights, goldHighlights } from '../../gold/highlights';
import { goldDatasets, type GoldDatasetReport, refreshGold } from '../../gold/service';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';

function describe(r: GoldDatasetReport): string {
  const lines: string[] = [];
  if (!r.refresh) lines.push(`• ${r.dataset}: gold is up to date (no run landed in silver since the last refresh)`);
  else {
    const what = r.refresh.mode === 'full' ? `full rebuild from ${r.refresh.rowsIn} silver rows` : `${r.refresh.runIds.length} pending run(s), ${r.refresh.rowsIn} silver rows`;
    lines.push(`✔ ${r.dataset}: ${what} in ${r.refresh.ms} ms (refresh ${r.refresh.refreshId})`);
  }
  if (r.export && !r.export.skipped) {
    lines.push(`    exported in ${r.export.ms} ms: ${r.export.files.map((f) => `gold/${f.path} (${f.rows} rows)`).join(', ')}`);
  } else if (r.export?.skipped) lines.push('    the lake already holds this state (gold/<dataset>/<table>.parquet)');
  return lines.join('\n');
}

export const goldCommand: CliCommand = {
  name: 'gold',
  usage: 'medallion gold refresh [--full] [--dataset <name>] [--json] | medallion gold show [--dataset <name>] [--json]',
  summary:
    'refresh the gold tables and export them to the lake as Parquet: --full rebuilds from silver; without it, applies the runs that landed since the last refresh (a full build if gold was never built). `show`: tables, last refresh, highlights',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    const args = parseArgs(rest, ['full', 'json']);
    const dataset = stringFlag(args, 'dataset');
    if (sub === 'refresh') {
      return withPlatform(ctx, async (p, env) => {
        const reports = await refreshGold({ ...p, env }, { full: args.flags.full === true, dataset });
        if (args.flags.json) ctx.out(JSON.stringify(reports, null, 2));
        else for (const r of reports) ctx.out(describe(r));
        if (!reports.length) ctx.err('no dataset has gold models (shared/datasets/<dataset>/gold/*.sql)');
        return 0;
      });
    }
    if (sub === 'show') {
      return withPlatform(ctx, async (p) => {
        const datasets = goldDatasets(p.contracts, dataset).map((c) => c.name);
        const tables = await p.pool.query(
          `SELECT m.dataset, m.table_name AS table, c.reltuples::bigint AS approx_rows, m.built_at,
                  (SELECT max(id) FROM ops.gold_refreshes r WHERE r.dataset = m.dataset) AS last_refresh,
                  (SELECT refresh_id FROM ops.gold_exports e WHERE e.dataset = m.dataset) AS exported_refresh
           FROM ops.gold_models m LEFT JOIN pg_class c ON c.oid = to_regclass(format('gold.%I', m.table_name))
           WHERE m.dataset = ANY($1) ORDER BY m.dataset, m.table_name`,
          [datasets],
        ).catch(() => ({ rows: [] as Record<string, unknown>[] }));
        const recent = await p.pool
          .query(
            `SELECT id, dataset, mode, cardinality(run_ids) AS runs, rows_in, tx_ms, export_ms, started_at
             FROM ops.gold_refreshes WHERE dataset = ANY($1) ORDER BY id DESC LIMIT 10`,
            [datasets],
          )
          .catch(() => ({ rows: [] as Record<string, unknown>[] }));
        const highlights = datasets.includes('ecommerce_events') ? await goldHighlights(p.pool) : undefined;
        if (args.flags.json) {
          ctx.out(JSON.stringify({ tables: tables.rows, refreshes: recent.rows, highlights }, null, 2));
          return 0;
        }
        ctx.out('Gold tables (query them with: medallion sql "SELECT * FROM gold.<table> LIMIT 10"):');
        ctx.out(table(tables.rows));
        ctx.out('\nRecent refreshes (ops.gold_refreshes):');
        ctx.out(table(recent.rows));
        if (highlights) ctx.out(`\n${formatGoldHighlights(highlights)}`);
        return 0;
      });
    }
    throw new UsageError(sub ? `unknown gold subcommand '${sub}' (refresh, show)` : 'say what to do: refresh or show');
  },
};
