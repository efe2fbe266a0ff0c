import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../shared/platform';
import { type ApiDemoResult, runApiDemo } from '../scripts/demoApi';
import { freshPlatform } from './support/platform';

/**
 * The SaaS API part of `npm run demo` (scripts/demoApi.ts, issue 11 point 4), on small generated
 * accounts: what it reports extracted, staged and in core after each round, and the named changes
 * it makes between the rounds as core shows them.
 */
describe('demo: the SaaS API sources from the stand-in to staging and core', () => {
  let platform: Platform;
  let r: ApiDemoResult;
  const printed: string[] = [];

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    r = await runApiDemo(platform, {
      counts: { pipedrive: { deals: 150, persons: 60, organizations: 30, activities: 80 }, zendesk: { tickets: 120, users: 50, organizations: 20 } },
      randomChanges: 10,
      out: (l = '') => printed.push(l),
    });
  });

  afterAll(async () => {
    await platform?.close();
  });

  it('the first run extracts every entity of both sources, stages every record and holds one core row per record of the API', () => {
    expect(r.first.map((l) => `${l.source}/${l.entity}`)).toEqual([
      'pipedrive/users',
      'pipedrive/pipelines',
      'pipedrive/stages',
      'pipedrive/deal_fields',
      'pipedrive/person_fields',
      'pipedrive/organization_fields',
      'pipedrive/organizations',
      'pipedrive/persons',
      'pipedrive/deals',
      'pipedrive/activities',
      'zendesk/groups',
      'zendesk/ticket_fields',
      'zendesk/ticket_forms',
      'zendesk/organizations',
      'zendesk/users',
      'zendesk/tickets',
    ]);
    for (const l of r.first) {
      const name = `${l.source}/${l.entity}`;
      expect(l.problems, name).toEqual([]);
      expect(l.extracted, name).toBe(l.inApi);
      expect(l.files, name).toBe(1);
      expect(l.staged, name).toBe(l.extracted);
      expect(l.quarantined, name).toBe(0);
      expect(l.stagingRows, name).toBe(l.extracted);
      // The entity's first core table is its own (one row per record); side tables follow.
      expect(l.core.length, name).toBeGreaterThan(0);
      expect(l.core[0]!.rows, name).toBe(l.inApi);
    }
    const deals = r.first.find((l) => l.entity === 'deals')!;
    expect(deals.extracted).toBe(150);
    expect(deals.core[0]!.table).toBe('core.pd_deals');
    expect(r.first.find((l) => l.source === 'zendesk' && l.entity === 'tickets')!.core[0]).toEqual({ table: 'core.zd_tickets', rows: 120 });
  });

  it('the incremental run reads the changes (snapshot entities again, staged under their own files) and core follows the API', () => {
    for (const l of r.second) {
      const name = `${l.source}/${l.entity}`;
      expect(l.problems, name).toEqual([]);
      expect(l.quarantined, name).toBe(0);
      expect(l.staged, name).toBe(l.extracted);
      const before = r.first.find((f) => f.source === l.source && f.entity === l.entity)!;
      expect(l.stagingRows, name).toBe(before.stagingRows + l.staged);
      if (l.core.length) expect(l.core[0]!.rows, name).toBe(l.inApi);
    }
    const snapshots = r.second.filter((l) => ['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields'].includes(l.entity) && l.source === 'pipedrive');
    // Unchanged snapshots: their records again, the same core rows.
    for (const l of snapshots) expect(l.core[0]!.rows, l.entity).toBe(r.first.find((f) => f.source === l.source && f.entity === l.entity)!.core[0]!.rows);
    // 10 random + won, moved, deleted, new; 10 random + solved, deleted, new (and whatever the overlap reads again).
    const deals = r.second.find((l) => l.entity === 'deals')!;
    expect(deals.extracted).toBeGreaterThanOrEqual(14);
    expect(deals.core[0]!.rows).toBe(151);
    const tickets = r.second.find((l) => l.source === 'zendesk' && l.entity === 'tickets')!;
    expect(tickets.extracted).toBeGreaterThanOrEqual(13);
    expect(tickets.core[0]!.rows).toBe(121);
  });

  it('core shows each named change: a deal won, moved and revalued, deleted, created; a ticket solved, deleted, created', () => {
    const { named, deals, tickets } = r;
    const d = (id: number, when: 'before' | 'after') => deals[when].get(String(id));
    const t = (id: number, when: 'before' | 'after') => tickets[when].get(String(id));
    expect([d(named.wonDeal, 'before')!.status, d(named.wonDeal, 'after')!.status]).toEqual(['open', 'won']);
    expect(d(named.movedDeal, 'after')!.stage).not.toBe(null);
    expect(Number(d(named.movedDeal, 'after')!.value)).toBe(25_000);
    expect([d(named.deletedDeal, 'before')!.is_deleted, d(named.deletedDeal, 'after')!.is_deleted, d(named.deletedDeal, 'after')!.status]).toEqual([false, true, 'deleted']);
    expect(d(named.newDeal, 'before')).toBeUndefined();
    expect(d(named.newDeal, 'after')).toMatchObject({ title: 'Northwind AS expansion deal', status: 'open', currency: 'EUR', is_deleted: false });
    expect(Number(d(named.newDeal, 'after')!.value)).toBe(48_000);
    expect([t(named.solvedTicket, 'before')!.status, t(named.solvedTicket, 'after')!.status]).toEqual(['open', 'solved']);
    expect([t(named.deletedTicket, 'before')!.is_deleted, t(named.deletedTicket, 'after')!.is_deleted, t(named.deletedTicket, 'after')!.status]).toEqual([false, true, 'deleted']);
    expect(t(named.newTicket, 'before')).toBeUndefined();
    expect(t(named.newTicket, 'after')).toMatchObject({ subject: 'Checkout page times out', status: 'new', priority: 'urgent', is_deleted: false });
    // 10 random changes of other deals/tickets, plus the named ones that changed an existing record.
    expect(r.changes[0]).toMatch(/^core\.pd_deals: 1 new, 13 updated to a newer version \(of which changed: status \d+, stage \d+, value \d+, deleted 1\)$/);
    expect(r.changes).toContain(`  deal ${named.wonDeal} "${d(named.wonDeal, 'after')!.title}": open → won`);
    expect(r.changes.find((c) => c.startsWith('core.zd_tickets'))).toMatch(/^core\.zd_tickets: 1 new, 12 updated to a newer version \(of which changed: status \d+, priority \d+, deleted 1\)$/);
    expect(r.changes.at(-1)).toBe(`stg_pipedrive.deals_raw keeps every version read (2 rows for deal ${named.wonDeal}, one per run that read it); core holds the latest.`);
    const text = printed.join('\n');
    expect(text).toContain('Open deals by pipeline and stage');
    expect(text).toContain('Tickets by status and priority');
    expect(text).toContain('What changed in core:');
  });

  it('the core lines it prints add up: every ticket once by status, open deals by stage within the deals', () => {
    const tickets = r.highlights.ticketsByStatus;
    expect(tickets.reduce((n, x) => n + Number(x.tickets), 0)).toBe(120);
    expect(new Set(tickets.map((x) => x.status)).size).toBe(tickets.length);
    for (const x of tickets) expect(Number(x.urgent) + Number(x.high) + Number(x['normal/low/none'])).toBe(Number(x.tickets));
    const open = r.highlights.openByStage.reduce((n, x) => n + Number(x['open deals']), 0);
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThan(150);
  });
});
