/** The logging the core needs; the Functions adapter maps it to context.log, the CLI to the terminal. */
export interface Logger {
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** JSON lines on stderr: what Application Insights and `func start` pick up as traces. */
export const consoleLogger: Logger = {
  info: (message, properties) => console.error(properties ? `${message} ${JSON.stringify(properties)}` : message),
  warn: (message, properties) => console.error(properties ? `WARN ${message} ${JSON.stringify(properties)}` : `WARN ${message}`),
  error: (message, properties) => console.error(properties ? `ERROR ${message} ${JSON.stringify(properties)}` : `ERROR ${message}`),
};
