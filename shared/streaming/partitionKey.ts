/**
 * Event Hubs partition-key hashing, done on the client so that events with different keys can
 * share an EventDataBatch per partition (a batch created with `partitionKey` takes one key only,
 * which would mean one batch per customer). This is the mapping the service and the SDK's own
 * EventHubBufferedProducerClient use: Bob Jenkins' lookup3 (hashlittle2, seeds 0) over the UTF-8
 * key, the two 32-bit halves XOR-ed and cut to a signed 16-bit value, modulo the partition count.
 * So a customer_id always lands on the partition the hub itself would pick for that key.
 */

const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

function lookup3(data: Buffer): { b: number; c: number } {
  let a = (0xdeadbeef + data.length) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  let n = data.length;
  const mix = () => {
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
  };
  while (n > 12) {
    a = (a + data.readUInt32LE(i)) >>> 0;
    b = (b + data.readUInt32LE(i + 4)) >>> 0;
    c = (c + data.readUInt32LE(i + 8)) >>> 0;
    mix();
    i += 12;
    n -= 12;
  }
  if (n === 0) return { b, c };
  // Tail: the remaining 1..12 bytes, little-endian, into a, b, c.
  const tail = Buffer.alloc(12);
  data.copy(tail, 0, i, i + n);
  a = (a + tail.readUInt32LE(0)) >>> 0;
  if (n > 4) b = (b + tail.readUInt32LE(4)) >>> 0;
  if (n > 8) c = (c + tail.readUInt32LE(8)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return { b, c };
}

/** Index 0..partitionCount-1 of the partition a key hashes to. */
export function partitionIndexForKey(key: string, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) throw new Error(`partition count must be a positive integer, got ${partitionCount}`);
  const { b, c } = lookup3(Buffer.from(key, 'utf8'));
  const h16 = new Int16Array([(c ^ b) | 0])[0]!;
  return Math.abs(h16 % partitionCount);
}

/** The partition id (of the hub's ids, in their order) a key hashes to. */
export function partitionForKey(key: string, partitionIds: readonly string[]): string {
  return partitionIds[partitionIndexForKey(key, partitionIds.length)]!;
}
