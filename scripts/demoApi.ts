/**
 * The SaaS API part of `npm run demo` (seed 004, issue 11 point 4): the stand-in API (in process,
 * the server `medallion dev --stand-in` runs) serves generated Pipedrive and Zendesk accounts;
 * both extractors pull every entity into bronze, each bronze part goes through the pipeline the
 * blob trigger runs (ingestBronzeFile: ledger, stg_<source>.<entity>_raw, core refreshed by the
 * gold framework in the same transaction), and the demo prints per (source, entity) what was
 * extracted, staged and is in core, and a few lines of core. Then it changes the stand-in's data
 * (a deal won, a deal moved and revalued, a deal deleted, a new deal; a ticket solved, a ticket
 * deleted, a new ticket; and some random changes), runs the incremental extraction (from each
 * watermark minus the overlap) and shows how core changed. Every entity writes a file again in the
 * second round: the snapshot entities are read whole, and an unchanged one writes the same content as
 * before, staged again under its own path (core does not change); the incremental ones
 * write the changes and what the overlap reads again.
 *
 * The extractors and the stand-in share a virtual clock (as in tests/extract.standin.test.ts) that
 * starts five minutes behind the real one and moves only when they wait: Zendesk's 10 requests a
 * minute on incremental exports and its exclusion of the last minute (about two minutes of
 * waiting in all) cost no real time, and no timestamp lies in the future.
 */
import type pg from 'pg';
import { describeReport, table } from '../shared/cli/format';
import { extractSettings, SOURCE_NAMES, type SourceName, sourceSettings } from '../shared/config';
import { goldGraph } from '../shared/gold/models';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { extractSource } from '../shared/sources/extract';
import { stagingTable } from '../shared/sources/staging';
import { type Counts, seededRandom, type StandIn, startStandIn } from '../shared/sources/standIn';

export interface ApiDemoOptions {
  /** Records the stand-in generates per (source, entity) (default: its own defaults, ~4,800 Pipedrive and ~2,600 Zendesk records). */
  counts?: Counts;
  /** Random changes besides the named ones, per source (default 20). */
  randomChanges?: number;
  out?: (line?: string) => void;
}

/** One (source, entity) after one extraction round. */
export interface EntityLine {
  source: SourceName;
  entity: string;
  /** Records the extraction wrote to bronze, and in how many files. */
  extracted: number;
  files: number;
  /** Rows this round added to staging, and lines it quarantined (ledger). */
  staged: number;
  quarantined: number;
  /** Rows in the staging table and in each core table of the entity after the round. */
  stagingRows: number;
  core: { table: string; rows: number }[];
  /** Extraction or ingestion failures, one line each. */
  problems: string[];
  /** Records the stand-in holds for the entity after the round (deleted ones included): what core should hold. */
  inApi: number;
}

export interface DealRow {
  deal_id: string;
  title: string | null;
  status: string | null;
  stage: string | null;
  value: string | null;
  currency: string | null;
  is_deleted: boolean;
}

export interface TicketRow {
  ticket_id: string;
  subject: string | null;
  status: string | null;
  priority: string | null;
  is_deleted: boolean;
}

export interface ApiDemoResult {
  first: EntityLine[];
  second: EntityLine[];
  /** The named changes made in the stand-in between the rounds. */
  named: { wonDeal: number; movedDeal: number; deletedDeal: number; newDeal: number; solvedTicket: number; deletedTicket: number; newTicket: number };
  /** core.pd_deals / core.zd_tickets rows of the named records, before and after the incremental round. */
  deals: { before: Map<string, DealRow>; after: Map<string, DealRow> };
  tickets: { before: Map<string, TicketRow>; after: Map<string, TicketRow> };
  /** The lines printed under "what changed in core". */
  changes: string[];
  /** The settings that point the extractors at the stand-in (its base URLs and credentials): the health checks judge the sources they name. */
  env: Record<string, string>;
  /** The core lines printed after the first run. */
  highlights: { openByStage: Record<string, string | number | null>[]; ticketsByStatus: Record<string, string | number | null>[] };
}

/** A clock the extractors sleep on and the stand-in reads (no real waiting). */
function virtualClock(start: number) {
  const c = {
    t: start,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
    advance: (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

type Clock = ReturnType<typeof virtualClock>;

/** Core tables per staging dataset (the gold models of its folder whose schema is core). */
function coreTablesOf(p: Platform): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of goldGraph(p.contracts.all()).models) {
    if (m.schema !== 'core') continue;
    out.set(m.dataset, [...(out.get(m.dataset) ?? []), `core.${m.table}`]);
  }
  return out;
}

const count = async (pool: pg.Pool, t: string): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);

/** Extracts both sources (from their watermarks) and ingests every part written, in the order written. */
async function extractAndIngest(p: Platform, standIn: StandIn, clock: Clock): Promise<EntityLine[]> {
  const cores = coreTablesOf(p);
  const lines: EntityLine[] = [];
  for (const source of SOURCE_NAMES) {
    const report = await extractSource(
      { lake: p.lake, pool: p.pool, log: silentLogger, workRoot: p.workRoot, now: clock.now, sleep: clock.sleep, random: seededRandom(5) },
      sourceSettings(source, standIn.env())!,
      extractSettings({}),
    );
    for (const e of report.entities) {
      const line: EntityLine = { source, entity: e.entity, extracted: e.records, files: e.parts.length, staged: 0, quarantined: 0, stagingRows: 0, core: [], problems: [], inApi: standIn.store.records(source, e.entity).length };
      if (e.status !== 'succeeded') line.problems.push(`${source}/${e.entity}: extraction ${e.status}: ${e.error}`);
      for (const part of e.parts) {
        const r = await ingestBronzeFile(p, part);
        if (r.outcome !== 'succeeded' || !r.ledger) {
          line.problems.push(describeReport(r));
          continue;
        }
        line.staged += r.ledger.rows_silver ?? 0;
        line.quarantined += r.ledger.rows_quarantined ?? 0;
      }
      const dataset = `${source}_${e.entity}`;
      if (p.contracts.get(dataset)) line.stagingRows = await count(p.pool, stagingTable(source, e.entity));
      for (const t of cores.get(dataset) ?? []) line.core.push({ table: t, rows: await count(p.pool, t) });
      lines.push(line);
    }
  }
  return lines;
}

const n = (x: number) => x.toLocaleString('en');

function roundTable(lines: EntityLine[], second: boolean): string {
  return table(
    lines.map((l) => ({
      source: l.source,
      entity: l.entity,
      extracted: l.extracted,
      files: l.files,
      staged: l.staged,
      quarantined: l.quarantined,
      [second ? 'staging rows now' : 'staging rows']: l.stagingRows,
      [second ? 'core rows now' : 'core rows']: l.core.map((c) => `${c.table} ${n(c.rows)}`).join(', ') || '—',
    })),
  );
}

async function dealRows(pool: pg.Pool, ids: number[]): Promise<Map<string, DealRow>> {
  const r = await pool.query<DealRow>(
    `SELECT d.deal_id::text, d.title, d.status, s.name AS stage, d.value::text, d.currency, d.is_deleted
     FROM core.pd_deals d LEFT JOIN core.pd_stages s ON s.scope = d.scope AND s.stage_id = d.stage_id
     WHERE d.deal_id = ANY($1::bigint[])`,
    [ids],
  );
  return new Map(r.rows.map((x) => [x.deal_id, x]));
}

async function ticketRows(pool: pg.Pool, ids: number[]): Promise<Map<string, TicketRow>> {
  const r = await pool.query<TicketRow>(`SELECT ticket_id::text, subject, status, priority, is_deleted FROM core.zd_tickets WHERE ticket_id = ANY($1::bigint[])`, [ids]);
  return new Map(r.rows.map((x) => [x.ticket_id, x]));
}

/** Some columns of every row of a core table, by business key (values as text). */
async function snapshot(pool: pg.Pool, sql: string): Promise<Map<string, Record<string, string | null>>> {
  const r = await pool.query<Record<string, string | null> & { k: string }>(sql);
  return new Map(r.rows.map((x) => [x.k, x]));
}

/**
 * How a core table changed between two snapshots: rows new, rows that hold a newer version of
 * their record (updated_at moved), and per column how many of those changed it.
 */
function diff(before: Map<string, Record<string, string | null>>, after: Map<string, Record<string, string | null>>, columns: string[]): string {
  let added = 0;
  let newer = 0;
  const by = new Map(columns.map((c) => [c, 0]));
  for (const [k, a] of after) {
    const b = before.get(k);
    if (!b) {
      added++;
      continue;
    }
    if (a.updated_at === b.updated_at) continue;
    newer++;
    for (const c of columns) if (a[c] !== b[c]) by.set(c, by.get(c)! + 1);
  }
  const cols = [...by].map(([c, x]) => `${c} ${x}`).join(', ');
  return `${added} new, ${newer} updated to a newer version (of which changed: ${cols})`;
}

const DEAL_STATE = `SELECT deal_id::text AS k, status, stage_id::text AS stage, value::text AS value, is_deleted::text AS deleted, updated_at::text AS updated_at FROM core.pd_deals`;
const TICKET_STATE = `SELECT ticket_id::text AS k, status, priority, is_deleted::text AS deleted, updated_at::text AS updated_at FROM core.zd_tickets`;

const money = (v: string | null, currency: string | null) => (v === null ? 'no value' : `${Number(v).toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency ?? ''}`.trim());

/** A sentence per named change, read from core before and after. */
function describeDeal(id: number, b: DealRow | undefined, a: DealRow | undefined): string {
  const name = `deal ${id}${a?.title ? ` "${a.title}"` : ''}`;
  if (!a) return `${name}: NOT IN CORE`;
  if (!b) return `${name}: new in core, ${a.status}, ${money(a.value, a.currency)}, stage ${a.stage ?? '?'}`;
  if (a.is_deleted && !b.is_deleted) return `${name}: deleted in Pipedrive → kept in core, flagged (is_deleted = true, status ${a.status})`;
  const parts: string[] = [];
  if (a.status !== b.status) parts.push(`${b.status} → ${a.status}`);
  if (a.stage !== b.stage) parts.push(`stage ${b.stage} → ${a.stage}`);
  if (a.value !== b.value) parts.push(`value ${money(b.value, b.currency)} → ${money(a.value, a.currency)}`);
  return `${name}: ${parts.join(', ') || 'unchanged'}`;
}

function describeTicket(id: number, b: TicketRow | undefined, a: TicketRow | undefined): string {
  const name = `ticket ${id}${a?.subject ? ` "${a.subject}"` : ''}`;
  if (!a) return `${name}: NOT IN CORE`;
  if (!b) return `${name}: new in core, ${a.status}, priority ${a.priority ?? 'none'}`;
  if (a.is_deleted && !b.is_deleted) return `${name}: deleted in Zendesk → kept in core, flagged (is_deleted = true, status ${a.status})`;
  const parts: string[] = [];
  if (a.status !== b.status) parts.push(`${b.status} → ${a.status}`);
  if (a.priority !== b.priority) parts.push(`priority ${b.priority} → ${a.priority}`);
  return `${name}: ${parts.join(', ') || 'unchanged'}`;
}

/** The named changes, chosen from the stand-in's data (the first records that fit), and some random ones. */
function mutate(standIn: StandIn, randomChanges: number): ApiDemoResult['named'] {
  const store = standIn.store;
  const live = (source: SourceName, entity: string, status: string) => store.records(source, entity).filter((r) => !r.deleted && r.data.status === status);
  const [won, moved, deleted] = live('pipedrive', 'deals', 'open');
  const [solved] = live('zendesk', 'tickets', 'open');
  const [ticketGone] = live('zendesk', 'tickets', 'new');
  if (!won || !moved || !deleted || !solved || !ticketGone) throw new Error('the stand-in has too few open deals or open/new tickets for the demo');
  store.update('pipedrive', 'deals', won.id, { status: 'won' });
  const stages = store.records('pipedrive', 'stages').filter((s) => s.data.pipeline_id === moved.data.pipeline_id && s.id !== moved.data.stage_id);
  const stage = stages.at(-1) ?? store.records('pipedrive', 'stages').find((s) => s.id !== moved.data.stage_id)!;
  store.update('pipedrive', 'deals', moved.id, { stage_id: stage.id, pipeline_id: stage.data.pipeline_id, value: 25_000 });
  store.remove('pipedrive', 'deals', deleted.id);
  const newStage = store.records('pipedrive', 'stages')[0]!;
  const newDeal = store.insert('pipedrive', 'deals', { title: 'Northwind AS expansion deal', status: 'open', value: 48_000, currency: 'EUR', stage_id: newStage.id, pipeline_id: newStage.data.pipeline_id });
  store.update('zendesk', 'tickets', solved.id, { status: 'solved' });
  store.remove('zendesk', 'tickets', ticketGone.id);
  const newTicket = store.insert('zendesk', 'tickets', { subject: 'Checkout page times out', status: 'new', priority: 'urgent' });
  // Other changes, to records other than the named ones (seeded choice).
  const rnd = seededRandom(9);
  const others = (source: SourceName, entity: string, named: number[]) => store.records(source, entity).filter((r) => !r.deleted && !named.includes(r.id));
  for (const [source, entity, pool] of [
    ['pipedrive', 'deals', others('pipedrive', 'deals', [won.id, moved.id, Number(newDeal.id)])],
    ['zendesk', 'tickets', others('zendesk', 'tickets', [solved.id, Number(newTicket.id)])],
  ] as const) {
    for (let i = 0; i < Math.min(randomChanges, pool.length); i++) {
      const j = i + Math.floor(rnd() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      store.update(source, entity, pool[i]!.id);
    }
  }
  return {
    wonDeal: won.id,
    movedDeal: moved.id,
    deletedDeal: deleted.id,
    newDeal: Number(newDeal.id),
    solvedTicket: solved.id,
    deletedTicket: ticketGone.id,
    newTicket: Number(newTicket.id),
  };
}

/** Runs the API part of the demo on a platform; prints as it goes (when `out` is given) and returns what it saw. */
export async function runApiDemo(p: Platform, options: ApiDemoOptions = {}): Promise<ApiDemoResult> {
  const out = options.out ?? (() => undefined);
  const clock = virtualClock(Math.floor((Date.now() - 5 * 60_000) / 1000) * 1000);
  const standIn = await startStandIn({ seed: 4, now: clock.now, counts: options.counts });
  try {
    out(`stand-in API at ${standIn.url} (generated accounts: ${standIn.pipedriveBaseUrl}, ${standIn.zendeskBaseUrl}); \`npx medallion dev --stand-in\` serves the same`);
    out('\nFirst run: every entity of both sources from the beginning (no watermark yet), each bronze part ingested as the blob trigger would:');
    const first = await extractAndIngest(p, standIn, clock);
    out(roundTable(first, false));
    for (const l of first) for (const x of l.problems) out(`  ${x}`);

    out('\nOpen deals by pipeline and stage (core.pd_deals ⋈ core.pd_stages ⋈ core.pd_pipelines; #id: names repeat; one column per currency):');
    const stages = await p.pool.query(
      `SELECT pl.name || ' #' || pl.pipeline_id AS pipeline, st.name || ' #' || st.stage_id AS stage, st.deal_probability AS "win %", count(*) AS "open deals",
              round(sum(d.value) FILTER (WHERE d.currency = 'EUR')) AS "EUR", round(sum(d.value) FILTER (WHERE d.currency = 'USD')) AS "USD",
              round(sum(d.value) FILTER (WHERE d.currency = 'NOK')) AS "NOK"
       FROM core.pd_deals d
       JOIN core.pd_stages st ON st.scope = d.scope AND st.stage_id = d.stage_id
       LEFT JOIN core.pd_pipelines pl ON pl.scope = st.scope AND pl.pipeline_id = st.pipeline_id
       WHERE d.status = 'open' AND d.is_deleted IS NOT TRUE
       GROUP BY pl.pipeline_id, pl.name, st.stage_id, st.name, st.order_nr, st.deal_probability
       ORDER BY pl.pipeline_id, st.order_nr, st.stage_id`,
    );
    out(table(stages.rows));
    out('\nTickets by status and priority (core.zd_tickets):');
    const tickets = await p.pool.query(
      `SELECT status, count(*) AS tickets, count(*) FILTER (WHERE priority = 'urgent') AS urgent, count(*) FILTER (WHERE priority = 'high') AS high,
              count(*) FILTER (WHERE priority IN ('normal', 'low') OR priority IS NULL) AS "normal/low/none"
       FROM core.zd_tickets GROUP BY status ORDER BY array_position(ARRAY['new','open','pending','hold','solved','closed','deleted'], status), status`,
    );
    out(table(tickets.rows));

    // The changes, half a minute after the first run; the second run after Zendesk's last minute.
    clock.advance(30_000);
    const dealsBefore = await snapshot(p.pool, DEAL_STATE);
    const ticketsBefore = await snapshot(p.pool, TICKET_STATE);
    const named = mutate(standIn, options.randomChanges ?? 20);
    const dealIds = [named.wonDeal, named.movedDeal, named.deletedDeal, named.newDeal];
    const ticketIds = [named.solvedTicket, named.deletedTicket, named.newTicket];
    const deals = { before: await dealRows(p.pool, dealIds), after: new Map<string, DealRow>() };
    const ticketsNamed = { before: await ticketRows(p.pool, ticketIds), after: new Map<string, TicketRow>() };
    out(
      `\nMeanwhile in the APIs: deal ${named.wonDeal} won, deal ${named.movedDeal} moved to another stage and revalued, deal ${named.deletedDeal} deleted, a new deal; ` +
        `ticket ${named.solvedTicket} solved, ticket ${named.deletedTicket} deleted, a new ticket; and ${options.randomChanges ?? 20} other deals and tickets changed.`,
    );
    clock.advance(70_000);
    out(
      'Second run: incremental entities from each watermark minus the overlap (EXTRACT_OVERLAP_MINUTES: the newest records are read again), ' +
        'snapshot entities whole again. Every entity writes a file; an unchanged snapshot writes the same content as before, staged again under its own path (core does not change):',
    );
    const second = await extractAndIngest(p, standIn, clock);
    out(roundTable(second.filter((l) => l.files > 0 || l.problems.length), true));
    const quiet = second.filter((l) => l.files === 0 && !l.problems.length).map((l) => `${l.source}/${l.entity}`);
    if (quiet.length) out(`  nothing read, no file written: ${quiet.join(', ')}`);
    for (const l of second) for (const x of l.problems) out(`  ${x}`);

    deals.after = await dealRows(p.pool, dealIds);
    ticketsNamed.after = await ticketRows(p.pool, ticketIds);
    const dealDiff = diff(dealsBefore, await snapshot(p.pool, DEAL_STATE), ['status', 'stage', 'value', 'deleted']);
    const ticketDiff = diff(ticketsBefore, await snapshot(p.pool, TICKET_STATE), ['status', 'priority', 'deleted']);
    const versions = await p.pool.query(`SELECT count(*) AS n FROM stg_pipedrive.deals_raw WHERE record_id = $1`, [named.wonDeal]);
    const changes = [
      `core.pd_deals: ${dealDiff}`,
      ...dealIds.map((id) => `  ${describeDeal(id, deals.before.get(String(id)), deals.after.get(String(id)))}`),
      `core.zd_tickets: ${ticketDiff}`,
      ...ticketIds.map((id) => `  ${describeTicket(id, ticketsNamed.before.get(String(id)), ticketsNamed.after.get(String(id)))}`),
      `stg_pipedrive.deals_raw keeps every version read (${versions.rows[0].n} rows for deal ${named.wonDeal}, one per run that read it); core holds the latest.`,
    ];
    out('\nWhat changed in core:');
    for (const c of changes) out(c);
    return { first, second, named, deals, tickets: ticketsNamed, changes, env: standIn.env(), highlights: { openByStage: stages.rows, ticketsByStatus: tickets.rows } };
  } finally {
    await standIn.close();
  }
}
