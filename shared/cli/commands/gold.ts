import { crmHighlights, formatCrmHighlights, formatGoldHighlights, goldHighlights } from '../../gold/highlights';
import { goldGraph } from '../../gold/models';
import { modelRef } from '../../gold/maintain';
import { brokenModels } from '../../gold/schema';
import { strategyWhy } from '../../gold/plan';
import type { GoldRefreshResult } from '../../gold/refresh';
import type { GoldExportResult } from '../../gold/export';
import { goldDatasets, refreshGold } from '../../gold/service';
import { type FlagKind, noPositionals, parseArgs, shown, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';
import { loadedDataset } from './datasetName';
import type { Platform } from '../../platform';

/**
 * `--dataset` of refresh and show, checked before anything runs: a name no dataset has, or a
 * dataset no gold model reads, is a usage error (exit 2, one line), like every command's --dataset.
 */
function goldDataset(p: Platform, dataset: string | undefined): void {
  if (dataset === undefined) return;
  loadedDataset(dataset, p.contracts);
  const fed = goldDatasets(p.contracts);
  if (!fed.includes(dataset)) throw new UsageError(`no gold model reads dataset '${dataset}' (datasets with gold models: ${fed.join(', ') || 'none'})`);
}

function describeRefresh(r: GoldRefreshResult): string {
  const what = r.mode === 'full' ? `full rebuild of ${r.models.length} model(s)` : `${r.runIds.length} pending run(s) of ${r.dataset}, ${r.rowsIn} new silver rows, ${r.models.length} model(s) changed`;
  return [`✔ ${what} in ${r.ms} ms (refresh ${r.refreshId})`, ...(r.broken ?? []).map((b) => `✖ left as it was: ${b}`)].join('\n');
}

function describeExport(e: GoldExportResult): string {
  if (e.skipped) return `• ${e.dataset}: the lake already holds this state (gold/${e.dataset}/<table>.parquet)`;
  return `✔ ${e.dataset}: exported in ${e.ms} ms: ${e.files.map((f) => `gold/${f.path} (${f.rows} rows)`).join(', ')}`;
}

/** The flags of each subcommand, as its usage lists them. */
const GOLD_FLAGS: Record<string, Record<string, FlagKind>> = {
  refresh: { full: 'boolean', dataset: 'value', json: 'boolean' },
  show: { dataset: 'value', json: 'boolean' },
  models: { json: 'boolean' },
};

export const goldCommand: CliCommand = {
  name: 'gold',
  usage: 'medallion gold refresh [--full] [--dataset <name>] [--json] | medallion gold show [--dataset <name>] [--json] | medallion gold models [--json]',
  summary:
    'refresh the gold tables and export them to the lake as Parquet: --full rebuilds from silver; without it, applies the runs that landed since the last refresh (a full build if gold was never built). `show`: tables, last refresh, highlights. `models`: every model, what it reads and how it is maintained',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    const flags = sub !== undefined && Object.hasOwn(GOLD_FLAGS, sub) ? GOLD_FLAGS[sub] : undefined;
    if (!flags) throw new UsageError(sub ? `unknown gold subcommand '${shown(sub)}' (refresh, show, models)` : 'say what to do: refresh, show or models');
    const args = parseArgs(rest, { command: `medallion gold ${sub}`, flags });
    noPositionals(args, `medallion gold ${sub}`);
    const dataset = stringFlag(args, 'dataset');
    if (sub === 'refresh') {
      return withPlatform(ctx, async (p, env) => {
        goldDataset(p, dataset);
        const report = await refreshGold({ ...p, env }, { full: args.flags.full === true, dataset });
        if (args.flags.json) {
          ctx.out(JSON.stringify(report, null, 2));
          return 0;
        }
        if (!report.refreshes.length) ctx.out('• gold is up to date (no run landed in silver since the last refresh)');
        for (const r of report.refreshes) ctx.out(describeRefresh(r));
        for (const e of report.exports) ctx.out(describeExport(e));
        if (!goldGraph(p.contracts.all()).models.length) ctx.err('no gold models (shared/datasets/<dataset>/gold/*.sql)');
        return 0;
      });
    }
    if (sub === 'show') {
      return withPlatform(ctx, async (p) => {
        goldDataset(p, dataset);
        const graph = goldGraph(p.contracts.all());
        const datasets = goldDatasets(p.contracts, dataset);
        const shown = graph.downstreamOf(datasets).filter((m) => m.schema !== 'gold_state');
        const names = shown.map((m) => m.table);
        const tables = await p.pool.query<Record<string, unknown> & { table: string }>(
          `SELECT m.dataset, m.table_name AS table, m.built_at,
                  (SELECT max(id) FROM ops.gold_refreshes r WHERE m.table_name = ANY(r.models)) AS last_refresh,
                  (SELECT refresh_id FROM ops.gold_exports e WHERE e.dataset = m.dataset) AS exported_refresh
           FROM ops.gold_models m WHERE m.table_name = ANY($1) ORDER BY m.dataset, m.table_name`,
          [names],
        ).catch(() => ({ rows: [] as (Record<string, unknown> & { table: string })[] }));
        for (const row of tables.rows) {
          const m = graph.get(row.table)!;
          const n = await p.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${modelRef(m)}`).catch(() => undefined);
          Object.assign(row, { table: `${m.schema}.${m.table}`, rows: n ? Number(n.rows[0]!.n) : null });
        }
        const recent = await p.pool
          .query(
            `SELECT id, dataset, mode, cardinality(run_ids) AS runs, rows_in, cardinality(models) AS models, tx_ms, export_ms, started_at
             FROM ops.gold_refreshes WHERE models && $1::text[] ORDER BY id DESC LIMIT 10`,
            [names],
          )
          .catch(() => ({ rows: [] as Record<string, unknown>[] }));
        const highlights = datasets.includes('ecommerce_events') ? await goldHighlights(p.pool) : undefined;
        const crm = names.includes('customer_features') ? await crmHighlights(p.pool) : undefined;
        if (args.flags.json) {
          ctx.out(JSON.stringify({ tables: tables.rows, refreshes: recent.rows, highlights, crm }, null, 2));
          return 0;
        }
        ctx.out('Gold and core tables (query them with: medallion sql "SELECT * FROM <table> LIMIT 10", e.g. gold.daily_sales_summary or core.pd_deals):');
        ctx.out(table(tables.rows));
        ctx.out('\nRecent refreshes (ops.gold_refreshes):');
        ctx.out(table(recent.rows));
        if (highlights) ctx.out(`\n${formatGoldHighlights(highlights)}`);
        if (crm) ctx.out(`\n${formatCrmHighlights(crm)}`);
        return 0;
      });
    }
    if (sub === 'models') {
      return withPlatform(ctx, async (p) => {
        const graph = goldGraph(p.contracts.all());
        const broken = await brokenModels(p.pool, graph);
        // What a model reads, as tables (a dataset no contract loads: as silver.<name>).
        const tableOf = (d: string) => (p.contracts.get(d) ? graph.datasetTable(d).replace(/"([a-z_][a-z0-9_]*)"/g, '$1') : `silver.${d}`);
        const readsOf = (r: { silver: string[]; models: string[] }) => [...r.silver.map(tableOf), ...r.models.map((t) => `${graph.files.get(t)?.schema ?? 'gold'}.${t}`)];
        const rows: { model: string; folder: string; reads: string[]; strategy: string; why: string }[] = graph.models.map((m) => ({
          model: `${m.schema}.${m.table}`,
          folder: m.dataset,
          reads: readsOf(m.reads),
          strategy: broken.has(m.table) ? 'broken' : m.plan.kind,
          why: broken.get(m.table) ?? strategyWhy(m.plan),
        }));
        for (const [t, reason] of graph.unavailable) {
          const f = graph.files.get(t);
          rows.push({ model: f && !f.unreadable ? `${f.schema}.${t}` : t, folder: f?.dataset ?? '', reads: f ? readsOf(f.reads) : [], strategy: 'unavailable', why: reason });
        }
        ctx.out(args.flags.json ? JSON.stringify(rows, null, 2) : table(rows.map((r) => ({ ...r, reads: r.reads.join(', ') }))));
        return 0;
      });
    }
    throw new UsageError(`unknown gold subcommand '${shown(sub!)}' (refresh, show, models)`);
  },
};
