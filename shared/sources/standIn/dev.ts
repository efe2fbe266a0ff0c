import { type StandIn, startStandIn } from './server';

/**
 * The stand-in API as `medallion dev --stand-in` runs it: on a fixed port (4010 by default, a
 * free one when that is taken), with a looser Zendesk incremental limit than the real 10 per
 * minute so that a local extraction takes seconds, and the lines that say how to point the
 * extractors at it.
 */
export async function startDevStandIn(options: { port?: number } = {}): Promise<{ standIn: StandIn; lines: string[] }> {
  const limits = { zendeskIncrementalPerMinute: 600 };
  let standIn: StandIn;
  try {
    standIn = await startStandIn({ port: options.port ?? 4010, limits });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port !== undefined) throw e;
    standIn = await startStandIn({ port: 0, limits });
  }
  const env = Object.entries(standIn.env())
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [
    `stand-in API (generated Pipedrive and Zendesk data, real paging, 429s and deletions) at ${standIn.url}; extract from it with:`,
    `  ${env} npx medallion extract pipedrive   (or zendesk)`,
    `  its data: ${standIn.url}/_standin/state?source=pipedrive&entity=deals   change it: curl -X POST ${standIn.url}/_standin/mutate -d '{"op":"update","source":"pipedrive","entity":"deals"}'`,
  ];
  return { standIn, lines };
}
