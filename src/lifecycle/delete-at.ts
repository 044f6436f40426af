/**
 * X-Delete-At for a station's copies on a Swift central: the moment the
 * station's own retention lets a recording go, so that Swift's object
 * expirer enforces the same policy there. None while a hold covers the
 * recording or retention keeps it for ever: a central never deletes what the
 * station would keep.
 */
import { RecordingCatalogue } from '../bws/catalogue.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { HoldBook } from './holds.ts';
import { type KeepRules, retentionOf, retentionSubject } from './retention.ts';

/** Swift refuses an X-Delete-At in the past: a recording already due gets this long on the central. */
export const MIN_DELETE_AT_AHEAD_S = 86_400;

export interface DeleteAt {
  /** X-Delete-At, s since the epoch. */
  at: number;
  /** Retention had let it go already: `at` is MIN_DELETE_AT_AHEAD_S from when it was worked out. */
  late: boolean;
}

/** The X-Delete-At a recording's copies should carry now, or null for none. */
export async function deleteAtFor(store: ObjectStore, rules: KeepRules, account: string, container: string, now: number): Promise<DeleteAt | null> {
  if ((await HoldBook.of(store.index).holding(store, account, container)).length > 0) return null;
  const record = await store.container(account, container).catch(() => undefined);
  const catalogue = RecordingCatalogue.of(store.index);
  const entry = record && (await catalogue.find(account, container, record));
  if (!entry) return null;
  const { keepUntil } = retentionOf(retentionSubject(entry, await catalogue.categoriesOf(account, container)), rules);
  if (keepUntil === null) return null;
  const earliest = Math.floor(now / 1000) + MIN_DELETE_AT_AHEAD_S;
  const at = Math.ceil(keepUntil / 1000);
  return at >= earliest ? { at, late: false } : { at: earliest, late: true };
}

/** Whether copies that carry `sent` (null or undefined: none) must be changed to carry `wanted`. */
export function deleteAtChanged(sent: number | null | undefined, wanted: DeleteAt | null): boolean {
  if (wanted === null) return sent !== null && sent !== undefined;
  if (sent === null || sent === undefined) return true;
  // Already late when sent: any time it was given stands (else it would move every pass).
  return wanted.late ? false : sent !== wanted.at;
}
