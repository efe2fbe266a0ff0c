import { parseArgs, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';

export const sqlCommand: CliCommand = {
  name: 'sql',
  usage: 'medallion sql [--json] "<query>"',
  summary: "run a read-only query against the platform's PostgreSQL (silver, gold, ops schemas)",
  async run(argv, ctx) {
    const args = parseArgs(argv, ['json']);
    const query = args.positional.join(' ').trim();
    if (!query) throw new UsageError('give a query, e.g. medallion sql "SELECT * FROM gold.daily_sales_summary"');
    return withPlatform(ctx, async (p) => {
      const client = await p.pool.connect();
      try {
        // A read-only transaction: the database itself refuses writes, whatever the query says.
        await client.query('BEGIN READ ONLY');
        await client.query("SET LOCAL statement_timeout = '120s'");
        const res = await client.query(query);
        await client.query('ROLLBACK');
        const rows = Array.isArray(res) ? (res.at(-1)?.rows ?? []) : res.rows;
        ctx.out(args.flags.json ? JSON.stringify(rows, null, 2) : table(rows as Record<string, unknown>[]));
        return 0;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        ctx.err(`query failed: ${e instanceof Error ? e.message : String(e)}`);
        return 1;
      } finally {
        client.release();
      }
    });
  },
};
