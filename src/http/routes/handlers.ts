/** What a storage handler is, and what it is given (routes/storage.ts dispatches to them). */
import type { Context } from 'hono';
import type { JsonDocument } from '../../bws/capabilities.ts';
import type { ContentDestination } from '../../bws/content-destination.ts';
import type { ObjectStore } from '../../store/object-store.ts';
import type { StoragePath } from '../../swift/names.ts';
import type { Env } from '../env.ts';

export interface StorageDeps {
  store: ObjectStore;
  /** Every mutation goes through it (sealing, registry rules); reads go to the store. */
  destination: ContentDestination;
  maxObjectBytes: number;
  systemDocuments: SystemDocuments;
}

/** The documents published under System/. */
export interface SystemDocuments {
  capabilities: () => Promise<JsonDocument>;
  /** Undefined while there are none: 404, and a BWS uses its built-in categories. */
  categories: () => Promise<JsonDocument | undefined>;
}

export type Handler = (c: Context<Env>, path: Required<StoragePath>) => Promise<Response>;
export type Handlers = Partial<Record<string, Handler>>;
