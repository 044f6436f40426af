/**
 * The categories a BWS offers for recordings (`ReadCategories`), published as
 * `System/Categories.json` (404 until there are some). The station's own live in DIR/categories.json,
 * set with `edgecd categories set FILE`; the daemon reads the file at each
 * request (a BWS asks once a day), so a change needs no restart. Recordings
 * may still arrive with categories removed since: those are stored like any
 * other.
 *
 * A station that replicates to a central republishes the central's own
 * Categories.json (its exact bytes, so its md5 Etag too), refreshed at every
 * replication pass, so officers choose the categories the central files
 * evidence under. The station's own categories, when set, win.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorError } from '../lib/errors.ts';
import { writeFileDurable } from '../lib/durable.ts';
import { jsonDocument, type JsonDocument } from './capabilities.ts';

export interface Category {
  Name: string;
  Id: string;
}

const categoriesFile = (dir: string) => join(dir, 'categories.json');
const centralFile = (dir: string) => join(dir, 'central-categories.json');

/** Where the published categories come from. */
export type CategoriesSource = { kind: 'station' } | { kind: 'central'; target: string; fetchedAt: string } | { kind: 'none' };

/** Each target's last Categories.json, as its exact text. */
type CentralCategories = Record<string, { fetchedAt: string; text: string }>;

/** Every problem with a categories list, as sentences; empty when valid. */
export function checkCategories(value: unknown): string[] {
  if (!Array.isArray(value)) return ['the file must be a JSON list of {"Name": …, "Id": …} objects'];
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const [i, c] of value.entries()) {
    const entry = c as Partial<Category> | null;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`[${i}]: not an object`);
      continue;
    }
    const extra = Object.keys(entry).filter((k) => k !== 'Name' && k !== 'Id');
    if (extra.length > 0) problems.push(`[${i}]: unknown attribute ${extra.join(', ')}`);
    if (typeof entry.Id !== 'string' || entry.Id.length === 0 || entry.Id.length > 100) problems.push(`[${i}].Id: a string of 1–100 characters`);
    else if (ids.has(entry.Id)) problems.push(`[${i}].Id: ${JSON.stringify(entry.Id)} is used twice`);
    else ids.add(entry.Id);
    if (typeof entry.Name !== 'string' || entry.Name.length === 0 || entry.Name.length > 100) problems.push(`[${i}].Name: a string of 1–100 characters`);
  }
  return problems;
}

const readOrUndefined = (file: string) =>
  readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });

/** The stored categories (an empty list until some are set). */
export async function readCategories(dir: string): Promise<Category[]> {
  return JSON.parse((await readOrUndefined(categoriesFile(dir))) ?? '[]') as Category[];
}

/**
 * The document the cameras get, and where it comes from: the station's own
 * categories, else the first target (in `targets` order) that published
 * some, else none (System/Categories.json answers 404: a BWS then uses its
 * built-in categories).
 */
export async function publishedCategories(dir: string, targets: readonly string[] = []): Promise<{ document?: JsonDocument; source: CategoriesSource }> {
  const own = await readOrUndefined(categoriesFile(dir));
  if (own !== undefined) return { document: jsonDocument((JSON.parse(own) as Category[]).map(({ Name, Id }) => ({ Name, Id }))), source: { kind: 'station' } };
  const central = JSON.parse((await readOrUndefined(centralFile(dir))) ?? '{}') as CentralCategories;
  for (const target of targets) {
    const stored = central[target];
    if (!stored) continue;
    const body = Buffer.from(stored.text, 'utf8');
    return { document: { body, etag: createHash('md5').update(body).digest('hex') }, source: { kind: 'central', target, fetchedAt: stored.fetchedAt } };
  }
  return { source: { kind: 'none' } };
}

export async function categoriesDocument(dir: string, targets: readonly string[] = []): Promise<JsonDocument | undefined> {
  return (await publishedCategories(dir, targets)).document;
}

/**
 * Stores a target's Categories.json as received (null: it publishes none).
 * Returns whether it changed; throws, naming every problem, when it is not
 * a valid list (the last good one stays).
 */
export async function setCentralCategories(dir: string, target: string, body: Buffer | null, now = new Date()): Promise<boolean> {
  const central = JSON.parse((await readOrUndefined(centralFile(dir))) ?? '{}') as CentralCategories;
  if (body === null) {
    if (!central[target]) return false;
    delete central[target];
  } else {
    const text = body.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(body)) throw new OperatorError('Categories.json is not UTF-8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new OperatorError(`Categories.json is not JSON: ${(err as Error).message}`);
    }
    const problems = checkCategories(value);
    if (problems.length > 0) throw new OperatorError(`Categories.json is not a valid list: ${problems.join('; ')}`);
    if (central[target]?.text === text) return false;
    central[target] = { fetchedAt: now.toISOString(), text };
  }
  await writeFileDurable(centralFile(dir), JSON.stringify(central, null, 2) + '\n', 0o640);
  return true;
}

/** Validates and stores a categories list; throws with every problem named. */
export async function setCategories(dir: string, text: string): Promise<Category[]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OperatorError(`not valid JSON: ${(err as Error).message}`);
  }
  const problems = checkCategories(value);
  if (problems.length > 0) throw new OperatorError(`invalid categories:\n  ${problems.join('\n  ')}`);
  const categories = (value as Category[]).map(({ Name, Id }) => ({ Name, Id }));
  await writeFileDurable(categoriesFile(dir), JSON.stringify(categories, null, 2) + '\n', 0o640);
  return categories;
}
