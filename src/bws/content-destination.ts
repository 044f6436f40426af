/**
 * The body-worn meaning of a change, checked before the store makes it:
 *
 * - Sealing: once a recording container's Status is Complete, the BWS sends
 *   nothing more for it; any request that would change it or its objects is
 *   refused (403) and nothing changes. A retried request that changes nothing
 *   still succeeds, so a BWS whose answer was lost is not told it failed.
 * - Registry: Users/ and Devices/ objects count against licence limits
 *   (limits.maxUsers / limits.maxDevices; 402 for one more), and with
 *   StoreUserIDKey a user's UserID is empty or unique (400 on a clash).
 *
 * Reads bypass this; every mutation from the API goes through it.
 */
import { EdgeError, notFound } from '../errors.ts';
import type { ObjectEntry, ObjectStore, PutObjectInput } from '../store/object-store.ts';
import { KeyedMutex } from '../store/keyed-mutex.ts';
import { decodeMetaValue, mergeMeta, type MetaMap, type MetaUpdate } from '../swift/metadata.ts';

export const USERS = 'Users';
export const DEVICES = 'Devices';
export const SYSTEM = 'System';

export interface DestinationSettings {
  /** 0 = no limit. */
  maxUsers: number;
  maxDevices: number;
  /** StoreUserIDKey is declared: UserIDs must be unique. */
  uniqueUserIds: boolean;
}

const isComplete = (meta: MetaMap | undefined) => meta?.status !== undefined && decodeMetaValue(meta.status) === 'Complete';
const sameMeta = (a: MetaMap, b: MetaMap) => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

export class ContentDestination {
  readonly #store: ObjectStore;
  readonly #settings: DestinationSettings;
  // Registry checks (counts, uniqueness) and the write they allow happen as one.
  readonly #registry = new KeyedMutex();

  constructor(store: ObjectStore, settings: DestinationSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  async putContainer(account: string, container: string, update: MetaUpdate): Promise<boolean> {
    const existing = await this.#store.container(account, container).catch(() => undefined);
    if (existing && isComplete(existing.meta) && !sameMeta(existing.meta, mergeMeta(existing.meta, update))) {
      throw sealed(container);
    }
    return this.#store.putContainer(account, container, update);
  }

  async postContainer(account: string, container: string, update: MetaUpdate): Promise<void> {
    const existing = await this.#store.container(account, container);
    if (isComplete(existing.meta) && !sameMeta(existing.meta, mergeMeta(existing.meta, update))) throw sealed(container);
    await this.#store.postContainer(account, container, update);
  }

  async putObject(input: PutObjectInput): Promise<ObjectEntry> {
    await this.#refuseIfSealed(input.account, input.container);
    const limit = this.#limitFor(input.container);
    if (limit === undefined && !this.#checksUserId(input.container)) return this.#store.putObject(input);
    return this.#registry.run(`${input.account}\0${input.container}`, async () => {
      const exists = await this.#store.object(input.account, input.container, input.object).then(() => true, () => false);
      if (!exists && limit !== undefined) {
        const { objectCount } = await this.#store.container(input.account, input.container);
        if (objectCount >= limit) {
          throw new EdgeError('PaymentRequired', `Licence limit reached: ${limit} ${input.container === USERS ? 'users' : 'devices'} (limits.${input.container === USERS ? 'maxUsers' : 'maxDevices'})`);
        }
      }
      if (this.#checksUserId(input.container)) await this.#refuseDuplicateUserId(input.account, input.object, input.meta);
      return this.#store.putObject(input);
    });
  }

  async postObject(account: string, container: string, object: string, meta: MetaMap, contentType?: string): Promise<void> {
    await this.#refuseIfSealed(account, container);
    if (!this.#checksUserId(container)) return this.#store.postObject(account, container, object, meta, contentType);
    await this.#registry.run(`${account}\0${container}`, async () => {
      await this.#refuseDuplicateUserId(account, object, meta);
      await this.#store.postObject(account, container, object, meta, contentType);
    });
  }

  async #refuseIfSealed(account: string, container: string): Promise<void> {
    const entry = await this.#store.container(account, container).catch(() => {
      throw notFound(`Container ${container} not found`);
    });
    if (isComplete(entry.meta)) throw sealed(container);
  }

  #limitFor(container: string): number | undefined {
    const limit = container === USERS ? this.#settings.maxUsers : container === DEVICES ? this.#settings.maxDevices : 0;
    return limit > 0 ? limit : undefined;
  }

  #checksUserId(container: string): boolean {
    return container === USERS && this.#settings.uniqueUserIds;
  }

  /** A user's own UserID may repeat on itself; anyone else holding it is a clash. */
  async #refuseDuplicateUserId(account: string, user: string, meta: MetaMap): Promise<void> {
    const wanted = meta.userid === undefined ? '' : decodeMetaValue(meta.userid).trim();
    if (wanted === '') return;
    let marker = '';
    for (;;) {
      const page = await this.#store.listObjects(account, USERS, { prefix: '', marker, endMarker: '', delimiter: '', limit: 1000 });
      for (const entry of page) {
        if ('subdir' in entry) continue;
        if (entry.name !== user && entry.meta.userid !== undefined && decodeMetaValue(entry.meta.userid).trim() === wanted) {
          throw new EdgeError('BadRequest', `UserID ${JSON.stringify(wanted)} already belongs to user ${entry.name}; a UserID must be empty or unique`);
        }
        marker = entry.name;
      }
      if (page.length < 1000) return;
    }
  }
}

function sealed(container: string): EdgeError {
  return new EdgeError('Forbidden', `Recording ${container} is Complete: it and its objects can no longer change`);
}
