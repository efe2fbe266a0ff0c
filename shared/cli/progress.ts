/**
 * Progress for long work: one line rewritten in place on a terminal, plain lines (at most one
 * every few seconds) when output goes to a file or CI log.
 */
export class Progress {
  private last = 0;
  private width = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly interval = 3000,
  ) {}

  get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(text: string): void {
    if (this.tty) {
      const pad = Math.max(0, this.width - text.length);
      this.stream.write(`\r${text}${' '.repeat(pad)}`);
      this.width = text.length;
      return;
    }
    const now = Date.now();
    if (now - this.last >= this.interval) {
      this.stream.write(`${text}\n`);
      this.last = now;
    }
  }

  /** Ends the in-place line (and always prints `text` when given). */
  done(text?: string): void {
    if (this.tty && this.width) this.stream.write(`\r${' '.repeat(this.width)}\r`);
    this.width = 0;
    if (text) this.stream.write(`${text}\n`);
  }
}

export function rate(rows: number, ms: number): string {
  if (ms <= 0) return '-';
  const r = (rows / ms) * 1000;
  return r >= 1000 ? `${(r / 1000).toFixed(1)}k rows/s` : `${r.toFixed(0)} rows/s`;
}
