/**
 * The categories a BWS offers for recordings (`ReadCategories`), published as
 * `System/Categories.json`. They live in DIR/categories.json, set with
 * `edgecd categories set FILE`; the daemon reads the file at each request
 * (a BWS asks once a day), so a change needs no restart. Recordings may still
 * arrive with categories removed since: those are stored like any other.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorError } from '../errors.ts';
import { writeFileDurable } from '../store/durable.ts';
import { jsonDocument, type JsonDocument } from './capabilities.ts';

export interface Category {
  Name: string;
  Id: string;
}

const categoriesFile = (dir: string) => join(dir, 'categories.json');

/** Every problem with a categories list, as sentences; empty when valid. */
export function checkCategories(value: unknown): string[] {
  if (!Array.isArray(value)) return ['the file must be a JSON list of {"Name": …, "Id": …} objects'];
  const problems: string[] = [];
  const ids = new Set<string>();
  value.forEach((c: unknown, i) => {
    const entry = c as Partial<Category> | null;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return void problems.push(`[${i}]: not an object`);
    const extra = Object.keys(entry).filter((k) => k !== 'Name' && k !== 'Id');
    if (extra.length > 0) problems.push(`[${i}]: unknown attribute ${extra.join(', ')}`);
    if (typeof entry.Id !== 'string' || entry.Id.length === 0 || entry.Id.length > 100) problems.push(`[${i}].Id: a string of 1–100 characters`);
    else if (ids.has(entry.Id)) problems.push(`[${i}].Id: ${JSON.stringify(entry.Id)} is used twice`);
    else ids.add(entry.Id);
    if (typeof entry.Name !== 'string' || entry.Name.length === 0 || entry.Name.length > 100) problems.push(`[${i}].Name: a string of 1–100 characters`);
  });
  return problems;
}

/** The stored categories (an empty list until some are set). */
export async function readCategories(dir: string): Promise<Category[]> {
  const text = await readFile(categoriesFile(dir), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '[]';
    throw err;
  });
  return JSON.parse(text) as Category[];
}

export async function categoriesDocument(dir: string): Promise<JsonDocument> {
  return jsonDocument((await readCategories(dir)).map(({ Name, Id }) => ({ Name, Id })));
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
