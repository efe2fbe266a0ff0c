import path from 'node:path';
import { databaseSettings, type Env, lakeSettings, medallionHome } from '../config';
import { type LocalStack, startLocalStack } from '../local/stack';
import { consoleLogger, type Logger } from '../log';
import { createPlatform, type Platform } from '../platform';

export interface CliContext {
  env: Env;
  out: (line: string) => void;
  err: (line: string) => void;
  log: Logger;
}

export const defaultContext: CliContext = {
  env: process.env,
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  log: { ...consoleLogger, info: () => undefined },
};

/**
 * Runs `fn` with a platform: the configured services when LakeStorage / DATABASE_URL (or their
 * Azure equivalents) are set, otherwise the local stack under MEDALLION_HOME (started here, or
 * reused when `medallion dev` / `medallion stack start` already runs it).
 */
export async function withPlatform<T>(ctx: CliContext, fn: (p: Platform, env: Env) => Promise<T>, options: { keepStack?: boolean } = {}): Promise<T> {
  const env: Env = { ...ctx.env };
  let stack: LocalStack | undefined;
  const needLake = !lakeSettings(env);
  const needDb = !databaseSettings(env);
  if (needLake || needDb) {
    const home = path.resolve(medallionHome(env));
    // Joins the stack already running under this home (another command, `medallion stack start`)
    // or starts one; stack.stop() below leaves it, and stops it only when this was the last
    // command using a stack no `medallion stack start` pinned (see shared/local/stack.ts).
    stack = await startLocalStack({ home, log: (l) => ctx.err(l), debug: (l) => ctx.log.info(l) });
    if (stack.owned) ctx.err(`started the local stack (Azurite + PostgreSQL) under ${home}`);
    if (needLake) env.LakeStorage = stack.lakeConnectionString;
    if (needDb) env.DATABASE_URL = stack.databaseUrl;
  }
  let platform: Platform | undefined;
  try {
    platform = await createPlatform(env, { log: ctx.log });
    return await fn(platform, env);
  } finally {
    await platform?.close();
    if (!options.keepStack) await stack?.stop();
  }
}
