import { ConfigError, extractSettings, SETTINGS, type SourceName, SOURCE_NAMES, sourceSettings } from '../../config';
import { entityNames } from '../../sources/entities';
import { type EntityReport, extractSource, type SourceReport, unknownEntities } from '../../sources/extract';
import { listFlag, parseArgs, shown, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { stopSignals } from '../interrupt';

/**
 * Parses --since: an ISO date or date-time (UTC unless it names a zone), epoch seconds (any
 * non-negative integer: 0 is 1970-01-01, the beginning), or 7d / 12h / 30m ago. Never in the future.
 */
export function parseSince(text: string, now: number): number {
  const t = text.trim();
  const rel = /^(\d+)\s*([dhm])$/i.exec(t);
  let ms: number;
  if (rel) ms = now - Number(rel[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[rel[2]!.toLowerCase() as 'd' | 'h' | 'm'];
  else if (/^\d+$/.test(t)) ms = Number(t) * 1000;
  else if (/^\d{4}-\d\d-\d\d$/.test(t)) ms = Date.parse(`${t}T00:00:00Z`);
  else if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t)) ms = Date.parse(`${t}Z`);
  else if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i.test(t)) ms = Date.parse(t);
  else ms = Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--since '${text}' is not a time: use 2025-01-31, 2025-01-31T08:00:00Z, epoch seconds (0 = from the beginning), or 7d / 12h / 30m (ago)`);
  // Date.parse rolls 2025-02-30 over to March: a date or time outside the calendar is refused.
  const parts = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d))?)?/i.exec(t);
  if (parts) {
    const [y, mo, d, h = '0', mi = '0', sec = '0'] = parts.slice(1).map((x) => x ?? undefined) as string[];
    const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) {
      throw new UsageError(`--since '${text}' is not a date of the calendar (e.g. 2025-02-28, 23:59:59 at most)`);
    }
  }
  if (ms < 0 || !Number.isFinite(ms)) throw new UsageError(`--since '${text}' is before 1970: 0 (epoch seconds) already reads from the beginning`);
  if (ms > now) {
    const millis = /^\d{12,}$/.test(t) && Number(t) <= now ? ' (epoch seconds are expected: drop the last three digits of milliseconds)' : '';
    throw new UsageError(`--since '${text}' is in the future${millis}`);
  }
  return ms;
}

const iso = (ms: number | undefined) => (ms === undefined ? 'none' : new Date(ms).toISOString().replace('.000Z', 'Z'));

/**
 * One line per entity. A failure's message is printed once: an auth failure's goes to stderr as
 * the source's stop line (describe leaves it out), and a failure with the same message as the
 * entity before (a host that does not resolve fails every entity alike) says so instead.
 */
function describe(r: EntityReport, previousError?: string): string {
  const name = `${r.source}/${r.entity}`;
  if (r.status === 'skipped') return `- ${name}: skipped (${r.error})`;
  if (r.status === 'failed') {
    const kept = r.parts.length ? `; ${r.records} records in ${r.parts.length} part(s) were written before it, the watermark is ${iso(r.watermarkAfter)}` : `; watermark unchanged (${iso(r.watermarkBefore)})`;
    const why = r.failureKind === 'auth' ? ', the source refused the credentials (see below)' : r.error !== undefined && r.error === previousError ? ' — the same as above' : ` — ${r.error}`;
    return `✘ ${name}: FAILED (${r.failureKind})${why}${kept}`;
  }
  const from = r.mode === 'snapshot' ? 'snapshot' : r.windowStart === undefined ? `${r.mode}, from the beginning` : `${r.mode}, from ${iso(r.windowStart)}`;
  const retries = r.retries ? `, ${r.retries} retried request(s)` : '';
  const mark = r.watermarkNote ? `watermark ${iso(r.watermarkBefore)} (${r.watermarkNote})` : `watermark ${iso(r.watermarkBefore)} → ${iso(r.watermarkAfter)}`;
  return `✔ ${name}: ${r.records.toLocaleString('en')} records in ${r.parts.length} part(s) (${from}; ${r.requests} requests${retries}), ${mark} [run ${r.runId}, ${(r.ms / 1000).toFixed(1)} s]`;
}

export const extractCommand: CliCommand = {
  name: 'extract',
  usage: 'medallion extract <pipedrive|zendesk> [--entity <name>[,<name>...]] [--full] [--since <time>] [--json]',
  summary:
    'pull a SaaS API source into bronze (<source>/scope=<account>/entity=<entity>/ingestion_date=<day>/run_id=<ts>/part-N.jsonl.gz) from each entity\'s watermark (ops.extract_watermarks); --full reads everything again, --since from a time (2025-01-31, an ISO date-time, epoch seconds with 0 = from the beginning, or 7d/12h/30m ago). Settings PIPEDRIVE_* / ZENDESK_* (docs/sources.md); exit 1 if an entity failed',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion extract', flags: { entity: 'list', full: 'boolean', since: 'value', json: 'boolean' } });
    const [name, ...extra] = args.positional;
    if (!name) throw new UsageError(`say which source: ${SOURCE_NAMES.join(' or ')}`);
    if (!SOURCE_NAMES.includes(name as SourceName)) throw new UsageError(`unknown source '${name}' (${SOURCE_NAMES.join(', ')})`);
    if (extra.length) throw new UsageError(`unexpected argument '${shown(extra[0]!)}'`);
    const source = name as SourceName;
    const entities = listFlag(args, 'entity');
    const unknown = unknownEntities(source, entities ?? []);
    if (unknown.length) throw new UsageError(`unknown ${source} entity '${unknown[0]}' (${entityNames(source).join(', ')})`);
    const sinceText = stringFlag(args, 'since');
    const full = args.flags.full === true;
    if (full && sinceText !== undefined) throw new UsageError('--full and --since exclude each other');
    const since = sinceText === undefined ? undefined : parseSince(sinceText, Date.now());

    // Configuration first: a source that is not set up fails in a moment, before any stack starts.
    const settings = sourceSettings(source, ctx.env);
    if (!settings) {
      const key = source === 'pipedrive' ? SETTINGS.pipedriveBaseUrl : SETTINGS.zendeskBaseUrl;
      const example = source === 'pipedrive' ? 'https://<company>.pipedrive.com' : 'https://<subdomain>.zendesk.com';
      throw new ConfigError(`${key} is not set: point it at ${example} (or at the stand-in API of \`medallion dev --stand-in\`); see docs/sources.md`);
    }
    const extract = extractSettings(ctx.env);

    // Ctrl-C once: the running entity stops, is recorded as failed (interrupted) with what it
    // wrote, the rest are skipped. Twice: the process ends at once (the run is then abandoned).
    const stop = stopSignals({ onStop: () => ctx.err('stopping: recording the running entity as interrupted (Ctrl-C again to quit at once)') });
    try {
      return await withPlatform(ctx, async (p) => {
        // The per-entity trace records (a failed entity's is a warning) go to --verbose only, which
        // makes ctx.log.info print: the lines below say the same in words, once.
        const trace = (level: string) => (message: string, properties?: Record<string, unknown>) => ctx.log.info(`${level}${message}`, properties);
        const log = { info: trace(''), warn: trace('WARN '), error: trace('ERROR ') };
        let previousError: string | undefined;
        const report: SourceReport = await extractSource(
          { lake: p.lake, pool: p.pool, log, workRoot: p.workRoot, signal: stop.signal, onEvent: (e) => {
            if (e.type === 'done' && !args.flags.json) {
              ctx.out(describe(e.report, previousError));
              previousError = e.report.error;
            } else if (e.type === 'http' && e.event.type === 'retry') ctx.log.info(`${source}/${e.entity}: ${e.event.status ?? e.event.reason} at ${e.event.url}, retrying in ${Math.ceil((e.event.waitMs ?? 0) / 1000)} s`);
          } },
          settings,
          extract,
          { entities, full, since },
        );
        if (args.flags.json) {
          ctx.out(JSON.stringify(report, null, 2));
        } else {
          for (const r of report.entities.filter((x) => x.status === 'skipped')) ctx.out(describe(r));
          const records = report.entities.reduce((n, r) => n + r.records, 0);
          const parts = report.entities.reduce((n, r) => n + r.parts.length, 0);
          ctx.out(`${records.toLocaleString('en')} records in ${parts} file(s) under bronze/${source}/scope=${report.scope}/ (runs: ops.extract_runs; watermarks: ops.extract_watermarks)`);
        }
        // The one line that says what to do (an auth failure's message is printed here only).
        if (report.stopped) ctx.err(`medallion extract: ${report.stopped.kind === 'auth' ? report.stopped.message : `${source} stopped: ${report.stopped.message}`}`);
        return report.status === 'succeeded' ? 0 : 1;
      });
    } finally {
      stop.dispose();
    }
  },
};
