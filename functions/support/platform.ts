import type { InvocationContext } from '@azure/functions';
import { ConfigError, lakeSettings } from '../../shared/config';
import { createLake } from '../../shared/lake/createLake';
import type { Lake } from '../../shared/lake/lake';
import type { Logger } from '../../shared/log';
import { createPlatform, type Platform } from '../../shared/platform';

let shared: Promise<Platform> | undefined;

/** One platform per worker process, created on first use (connections and schema reused). */
export function getPlatform(): Promise<Platform> {
  shared ??= createPlatform(process.env).catch((e: unknown) => {
    shared = undefined;
    throw e;
  });
  return shared;
}

/** Lets tests run handlers against their own platform. */
export function setPlatformForTests(p: Platform | undefined): void {
  shared = p ? Promise.resolve(p) : undefined;
  overrideLake = p?.lake;
}

/** Core log calls → the invocation's log (Application Insights traces with the properties). */
export function invocationLogger(context: InvocationContext): Logger {
  const fmt = (m: string, props?: Record<string, unknown>) => (props ? `${m} ${JSON.stringify(props)}` : m);
  return {
    info: (m, props) => context.info(fmt(m, props)),
    warn: (m, props) => context.warn(fmt(m, props)),
    error: (m, props) => context.error(fmt(m, props)),
  };
}

let sharedLake: Lake | undefined;
let overrideLake: Lake | undefined;

/** Just the lake (no database): for functions that only write to bronze. */
export function lakeFor(): Lake {
  if (overrideLake) return overrideLake;
  const settings = lakeSettings(process.env);
  if (!settings) throw new ConfigError('no lake configured: set LakeStorage (a connection string) or LakeStorage__accountName (managed identity)');
  sharedLake ??= createLake(settings);
  return sharedLake;
}

/** The platform with this invocation's logger. */
export async function platformFor(context: InvocationContext): Promise<Platform> {
  const p = await getPlatform();
  return { ...p, log: invocationLogger(context) };
}
