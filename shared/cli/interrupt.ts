/** Where stop signals come from: the process, or an EventEmitter in tests. */
export type SignalSource = Pick<NodeJS.EventEmitter, 'on' | 'removeListener'>;

/**
 * Ctrl-C (SIGINT) or SIGTERM once: `signal` aborts and the command finishes what it can and
 * records how it stopped. A second signal: the default, the process ends at once.
 *
 * The handlers stay registered (`on`, never `once`) until `dispose()`: the local stack's own
 * handler leaves the stack and re-raises the signal only when no command handles it, and it must
 * see this handler for the whole command, including while the first signal is being delivered.
 */
export function stopSignals(options: { source?: SignalSource; onStop?: (sig: NodeJS.Signals) => void } = {}): { signal: AbortSignal; dispose: () => void } {
  const source = options.source ?? process;
  const controller = new AbortController();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const handler = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      options.onStop?.(sig);
      controller.abort();
      return;
    }
    dispose();
    if (source === process) process.kill(process.pid, sig);
  };
  const dispose = () => {
    for (const s of signals) source.removeListener(s, handler);
  };
  for (const s of signals) source.on(s, handler);
  return { signal: controller.signal, dispose };
}
