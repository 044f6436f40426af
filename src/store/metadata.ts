/**
 * User metadata as the store keeps it: lower-case keys, raw values. What a
 * valid set is belongs to the protocol above (swift/metadata.ts), which the
 * store is given as `StoreOptions.checkMetadata`.
 */

/** Lower-case key → value exactly as received (a latin1 string of the header's bytes). */
export type MetaMap = Record<string, string>;

export interface MetaUpdate {
  /** Keys to set, with their raw values. */
  set: MetaMap;
  /** Keys to delete (empty value or X-Remove-*-Meta-*). */
  remove: string[];
}

/** Whether two metadata sets hold the same keys with the same raw values. */
export function sameMeta(a: MetaMap, b: MetaMap): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Container semantics: merge the update into the existing set. */
export function mergeMeta(existing: MetaMap, update: MetaUpdate): MetaMap {
  const merged: MetaMap = { ...existing, ...update.set };
  for (const key of update.remove) delete merged[key];
  return merged;
}
