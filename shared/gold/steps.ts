import type pg from 'pg';
import { Readable } from 'node:stream';
import type { Lake, Zone } from '../lake/lake';
import { leadScoringStep } from '../ml/leadScoringStep';

/** A file a step wants in the lake once its transaction has committed (content-addressed: rewriting is harmless). */
export interface StepFile {
  zone: Zone;
  path: string;
  content: string;
  contentType: string;
}

/**
 * Work in TypeScript that belongs to the gold refresh (e.g. scoring a model's rows with a trained
 * classifier): it runs inside the refresh's transaction right after `after` was written or rebuilt,
 * so what it writes commits with gold or not at all.
 */
export interface GoldStep {
  name: string;
  /** The model whose refresh triggers the step. */
  after: string;
  run(db: pg.PoolClient): Promise<{ files: StepFile[]; summary: Record<string, unknown> }>;
}

/** The platform's steps. */
export const GOLD_STEPS: readonly GoldStep[] = [leadScoringStep];

/** Writes the files steps produced (after commit). */
export async function writeStepFiles(lake: Lake, files: readonly StepFile[]): Promise<void> {
  for (const f of files) {
    if (await lake.stat(f.zone, f.path)) continue; // a version is immutable: same path, same bytes
    await lake.write(f.zone, f.path, Readable.from([Buffer.from(f.content)]), { contentType: f.contentType });
  }
}
