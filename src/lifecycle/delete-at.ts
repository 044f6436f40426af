/**
 * X-Delete-At for a station's copies on a Swift central: the moment the
 * station's own retention lets a recording go, so that Swift's object
 * expirer enforces the same policy there. None while a hold covers the
 * recording or retention keeps it for ever: a central never deletes what the
 * station would keep.
 */
import { RecordingCatalogue } from '../bws/catalogue.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { type Hold, HoldBook, holdsCovering } from './holds.ts';
import { type KeepRules, retentionOf, retentionSubject } from './retention.ts';
import { stationDeleteAtOf, wholeRecording } from './station-delete-at.ts';

/** Swift refuses an X-Delete-At in the past: a recording already due gets this long on the central. */
export const MIN_DELETE_AT_AHEAD_S = 86_400;

export interface DeleteAt {
  /** X-Delete-At, s since the epoch. */
  at: number;
  /** Retention had let it go already: `at` is MIN_DELETE_AT_AHEAD_S from when it was worked out. */
  late: boolean;
}

/**
 * Works out X-Delete-At for many recordings at one moment: the holds are
 * read once, each account's categories once (one key scan), then each
 * recording costs its container and catalogue entry.
 */
export class DeleteAtJudge {
  readonly #store: ObjectStore;
  readonly #rules: KeepRules;
  readonly #now: number;
  readonly #holds: readonly Hold[];
  readonly #categories = new Map<string, Promise<Map<string, string[]>>>();

  private constructor(store: ObjectStore, rules: KeepRules, now: number, holds: readonly Hold[]) {
    this.#store = store;
    this.#rules = rules;
    this.#now = now;
    this.#holds = holds;
  }

  static async open(store: ObjectStore, rules: KeepRules, now: number): Promise<DeleteAtJudge> {
    return new DeleteAtJudge(store, rules, now, await HoldBook.of(store.index).list());
  }

  /** The X-Delete-At a recording's copies should carry now, or null for none. */
  async of(account: string, container: string): Promise<DeleteAt | null> {
    const record = await this.#store.container(account, container).catch(() => undefined);
    const catalogue = RecordingCatalogue.of(this.#store.index);
    const entry = record && (await catalogue.find(account, container, record));
    if (!record || !entry) return null;
    let byRecording = this.#categories.get(account);
    if (!byRecording) this.#categories.set(account, (byRecording = catalogue.categoriesByRecording(account)));
    const categories = (await byRecording).get(container) ?? [];
    if ((await holdsCovering(this.#holds, account, entry, (id) => categories.includes(id))).length > 0) return null;
    // What the recording is here, as the plan weighs it (a central passing its stations' word on included).
    const fromStation = wholeRecording(await stationDeleteAtOf(this.#store.index, account, container), record.objectCount);
    const { keepUntil } = retentionOf(retentionSubject(entry, categories, fromStation), this.#rules);
    if (keepUntil === null) return null;
    const earliest = Math.floor(this.#now / 1000) + MIN_DELETE_AT_AHEAD_S;
    const at = Math.ceil(keepUntil / 1000);
    return at >= earliest ? { at, late: false } : { at: earliest, late: true };
  }
}

/** Whether copies that carry `sent` (null or undefined: none) must be changed to carry `wanted`. */
export function deleteAtChanged(sent: number | null | undefined, wanted: DeleteAt | null): boolean {
  if (wanted === null) return sent !== null && sent !== undefined;
  if (sent === null || sent === undefined) return true;
  // Already late when sent: any time it was given stands (else it would move every pass).
  return wanted.late ? false : sent !== wanted.at;
}
