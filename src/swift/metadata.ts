/**
 * Swift user metadata on the wire: `X-Container-Meta-<Key>` / `X-Object-Meta-<Key>`.
 *
 * Keys are case-insensitive; edgecd keeps them lower case and answers in Swift's
 * canonical form (Bwcserialnumber, Some-Key), which is what the BWS expects.
 * Values are stored exactly as sent (URL-encoded UTF-8 from a BWS, raw UTF-8 from
 * python-swiftclient) and decoded only for display, search and the size limits.
 */
import { badRequest } from '../lib/errors.ts';
import type { MetaMap, MetaUpdate } from '../store/metadata.ts';
import { MAX_META_COUNT, MAX_META_NAME_LENGTH, MAX_META_OVERALL_SIZE, MAX_META_VALUE_LENGTH } from '../config/limits.ts';

export { mergeMeta, sameMeta, type MetaMap, type MetaUpdate } from '../store/metadata.ts';

export type MetaTarget = 'container' | 'object';

/** Header prefixes accepted per target: BWS firmware sends either form on containers. */
const SET_PREFIXES: Record<MetaTarget, readonly string[]> = {
  container: ['x-container-meta-', 'x-object-meta-'],
  object: ['x-object-meta-'],
};
const REMOVE_PREFIXES: Record<MetaTarget, readonly string[]> = {
  container: ['x-remove-container-meta-'],
  object: ['x-remove-object-meta-'],
};

/** 'bwcserialnumber' → 'Bwcserialnumber', 'foo-bar' → 'Foo-Bar' (Swift's title case). */
export function canonicalKey(key: string): string {
  return key.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The human-readable value: header bytes read as UTF-8, then percent-decoded
 * when that yields valid UTF-8. Anything undecodable is shown as received.
 */
export function decodeMetaValue(raw: string): string {
  let text: string;
  try {
    text = utf8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    text = raw;
  }
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Collects the metadata headers for a target from (lower-case name, value) pairs. */
export function readMetaHeaders(headers: Iterable<[string, string]>, target: MetaTarget): MetaUpdate {
  const update: MetaUpdate = { set: {}, remove: [] };
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    const setPrefix = SET_PREFIXES[target].find((p) => name.startsWith(p));
    const removePrefix = setPrefix ? undefined : REMOVE_PREFIXES[target].find((p) => name.startsWith(p));
    const prefix = setPrefix ?? removePrefix;
    if (!prefix) continue;
    const key = name.slice(prefix.length);
    if (key.length === 0) throw badRequest('Metadata name cannot be empty');
    if (key.length > MAX_META_NAME_LENGTH) throw badRequest(`Metadata name too long; max ${MAX_META_NAME_LENGTH}: ${key.slice(0, 32)}…`);
    if (removePrefix || value.length === 0) update.remove.push(key);
    else update.set[key] = value;
  }
  return update;
}

/** Applies Swift's limits to a complete metadata set, measuring decoded values. */
/** Swift's limits on a metadata set; the store applies it to the merged set, under the write's lock. */
export function checkMetaLimits(meta: MetaMap): void {
  const keys = Object.keys(meta);
  if (keys.length > MAX_META_COUNT) throw badRequest(`Too many metadata items; max ${MAX_META_COUNT}`);
  let overall = 0;
  for (const key of keys) {
    const bytes = Buffer.byteLength(decodeMetaValue(meta[key]!), 'utf8');
    if (bytes > MAX_META_VALUE_LENGTH) throw badRequest(`Metadata value for ${canonicalKey(key)} too long; max ${MAX_META_VALUE_LENGTH} bytes decoded, got ${bytes}`);
    overall += key.length + bytes;
  }
  if (overall > MAX_META_OVERALL_SIZE) throw badRequest(`Total metadata too large; max ${MAX_META_OVERALL_SIZE} bytes`);
}

/** Response headers for a metadata set, in canonical form. */
export function metaHeaders(meta: MetaMap, target: MetaTarget): [string, string][] {
  const prefix = target === 'container' ? 'X-Container-Meta-' : 'X-Object-Meta-';
  return Object.entries(meta).map(([key, value]) => [prefix + canonicalKey(key), value]);
}

/** The decoded view of a metadata set, keyed canonically (for status, search, export). */
export function decodedMeta(meta: MetaMap): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).map(([k, v]) => [canonicalKey(k), decodeMetaValue(v)]));
}
