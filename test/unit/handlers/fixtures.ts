/** Reads the golden fixtures (test/fixtures) and the sample events (events/). */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

/** A golden file of test/fixtures, parsed. */
export const fixture = <T = unknown>(name: string): T => readJson(join(REPO_ROOT, 'test', 'fixtures', name)) as T;

/** A sample event of events/, parsed. */
export const sampleEvent = <T = unknown>(name: string): T => readJson(join(REPO_ROOT, 'events', name)) as T;

export const sampleEventNames = (): string[] =>
  readdirSync(join(REPO_ROOT, 'events'))
    .filter((name) => name.endsWith('.json'))
    .sort();
