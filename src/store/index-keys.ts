/**
 * How the index spells its keys: parts joined by NUL, which no name may hold,
 * so keys sort by their parts and a prefix is a range. The store's entries,
 * the replication ledger and the recording catalogue all build keys here.
 */

export const KEY_SEPARATOR = '\u0000';
/** Above every valid UTF-8 sequence: an exclusive upper bound for "starts with". */
export const KEY_TOP = '\u{10FFFF}';

export const indexKey = (...parts: string[]): string => parts.join(KEY_SEPARATOR);

/** The keys below `parts` (each a further part on): the children of a container key, say. */
export function keysUnder(...parts: string[]): { gt: string; lt: string } {
  const prefix = indexKey(...parts) + KEY_SEPARATOR;
  return { gt: prefix, lt: prefix + KEY_TOP };
}
