import { existsSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/**
 * The repository (or deployed app) root: the nearest folder above this module with a
 * package.json. Works from the TypeScript sources (vitest) and from dist/ (node, Functions).
 */
export function projectRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'shared'))) return (cached = dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the project root above ${__dirname}`);
    dir = parent;
  }
}

export function resolveFromRoot(...segments: string[]): string {
  return path.join(projectRoot(), ...segments);
}
