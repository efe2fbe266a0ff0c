import { existsSync } from 'node:fs';
import { eventHubSettings } from '../../config';
import { ingestBronzeFile } from '../../pipeline/ingestFile';
import { customerStream, emptySummary, type StreamSummary } from '../../streaming/generator';
import { createProducerClient, produceToEventHubs, type ProducerClientLike } from '../../streaming/producer';
import { readTelcoProfiles } from '../../streaming/records';
import { produceToBronze } from '../../streaming/toBronze';
import { numberFlag, parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { type CliContext, withPlatform } from '../context';
import { type SignalSource, stopSignals } from '../interrupt';

/** Tests inject a fake Event Hubs client here. */
export interface ProduceDeps {
  createClient?: typeof createProducerClient;
  /** Defaults to process; tests pass an EventEmitter to send a fake SIGINT. */
  signals?: SignalSource;
}

function describeStream(s: StreamSummary): string {
  return `${s.records} record(s): ${s.newCustomers} new customer(s), ${s.updates} update(s) (${s.delayed} sent out of order), ${s.missingTotal} without total_charges, ${s.badEmails} malformed e-mail(s)`;
}

export async function runProduce(argv: string[], ctx: CliContext, deps: ProduceDeps = {}): Promise<number> {
  const args = parseArgs(argv, { command: 'medallion produce', flags: { count: 'value', rate: 'value', updates: 'value', from: 'value', to: 'value', seed: 'value' } });
  if (args.positional[0] !== 'customers' || args.positional.length > 1) throw new UsageError('the only stream is customers: medallion produce customers ...');
  const updates = numberFlag(args, 'updates', 0.2);
  if (updates > 1) throw new UsageError(`--updates is a fraction between 0 and 1, got ${updates}`);
  const rateText = stringFlag(args, 'rate')?.replace(/\/s$/i, '');
  const rate = rateText === undefined ? 0 : Number(rateText);
  if (!Number.isFinite(rate) || rate < 0) throw new UsageError(`--rate is records per second (e.g. 50 or 50/s), got '${rateText}'`);
  const seed = numberFlag(args, 'seed', Date.now() % 1_000_000);
  const from = stringFlag(args, 'from');
  if (from && !existsSync(from)) throw new UsageError(`no such file: ${from}`);
  const to = stringFlag(args, 'to');
  if (to !== undefined && to !== 'bronze' && to !== 'eventhubs') throw new UsageError(`--to is 'bronze' or 'eventhubs', got '${to}'`);

  const base = from ? await readTelcoProfiles(from) : undefined;
  // With --from, by default every customer of the file is sent once, plus the updates.
  const defaultCount = base ? Math.ceil(base.length / Math.max(0.05, 1 - updates)) : 1000;
  const count = Math.floor(numberFlag(args, 'count', defaultCount));
  // Lazy: a long --rate stream does not hold its records in memory.
  const summary = emptySummary();
  const records = customerStream(
    {
      count,
      updates,
      seed,
      base,
      ...(rate > 0 ? { start: new Date(), stepMs: 1000 / rate } : {}),
    },
    summary,
  );
  ctx.err(`customers stream: ${count} record(s), ${Math.round(updates * 100)} % updates${base ? `, customers from ${from}` : ''}, seed ${seed}`);

  const hub = eventHubSettings(ctx.env);
  const target = to ?? (hub ? 'eventhubs' : 'bronze');
  if (!to && !hub) ctx.err('no Event Hubs configured (EventHubConnection or EventHubConnection__fullyQualifiedNamespace): writing straight to bronze');
  // Ctrl-C once: stop taking records, send what is batched, close. Twice: the default (exit).
  const { signal, dispose } = stopSignals({
    source: deps.signals,
    onStop: () => ctx.err('stopping: sending what is already batched, then closing (Ctrl-C again to quit at once)'),
  });
  try {
    if (target === 'eventhubs') {
      if (!hub) throw new UsageError('no Event Hubs configured: set EventHubConnection (connection string) or EventHubConnection__fullyQualifiedNamespace, or use --to bronze');
      const client: ProducerClientLike = (deps.createClient ?? createProducerClient)(hub);
      const where = hub.kind === 'identity' ? hub.fullyQualifiedNamespace : 'the connection string';
      const t0 = Date.now();
      const res = await produceToEventHubs(client, records, {
        rate,
        signal,
        retry: { onRetry: (attempt, e, ms) => ctx.err(`transient error (${e instanceof Error ? e.message : String(e)}); retry ${attempt} in ${Math.round(ms)} ms`) },
      });
      const secs = (Date.now() - t0) / 1000;
      ctx.out(
        `sent ${res.sent} record(s) to event hub '${hub.hubName}' (${where}) in ${res.batches} batch(es), ${secs.toFixed(1)} s` +
          `${res.retries ? `, ${res.retries} retried send(s)` : ''}; by partition: ${JSON.stringify(res.byPartition)}${res.aborted ? ' — stopped by Ctrl-C' : ''}`,
      );
      ctx.err(`generated ${describeStream(summary)}`);
      return 0;
    }
    return await withPlatform(ctx, async (p) => {
      const t0 = Date.now();
      let failed = 0;
      const res = await produceToBronze(p.lake, records, {
        rate,
        signal,
        ingest: (path) => ingestBronzeFile(p, path),
        onFile: (f) => {
          const l = f.report?.ledger;
          if (f.report?.outcome === 'failed') failed++;
          ctx.out(
            `bronze/${f.path}: ${f.records} record(s) → ${f.report?.outcome ?? 'written'}` +
              (l ? ` (silver ${l.rows_silver}, older/duplicate ${(l.duplicates_in_file ?? 0) + (l.duplicates_cross_file ?? 0)}, quarantined ${l.rows_quarantined}` +
                `${l.warnings.late_records ? `, late ${l.warnings.late_records}` : ''})` : '') +
              ` in ${f.latencyMs} ms`,
          );
        },
      });
      const secs = (Date.now() - t0) / 1000;
      ctx.err(`generated ${describeStream(summary)}`);
      ctx.out(`wrote ${res.sent} record(s) in ${res.files.length} file(s) to bronze/customers/ and ingested them in ${secs.toFixed(1)} s (${(res.sent / Math.max(secs, 0.001)).toFixed(0)} records/s)${res.aborted ? ' — stopped by Ctrl-C' : ''}`);
      return failed > 0 ? 1 : 0;
    });
  } finally {
    dispose();
  }
}

export const produceCommand: CliCommand = {
  name: 'produce',
  usage: 'medallion produce customers [--count N] [--rate R/s] [--updates P] [--from <csv>] [--to bronze|eventhubs] [--seed S]',
  summary: 'send customer records (generated, or based on a Telco CSV) to Event Hubs, or straight to bronze and on to silver/gold',
  run: (argv, ctx) => runProduce(argv, ctx),
};
