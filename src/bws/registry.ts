/**
 * The users and cameras the body-worn system registered (Users/, Devices/),
 * read from the index, for labelling recordings with names instead of UUIDs.
 * Both are licence-limited lists, small enough to read whole per request.
 */
import type { ObjectStore } from '../store/object-store.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { DEVICES, USERS } from './content-destination.ts';

export interface RegisteredUser {
  /** The UUID: the object name, and the first part of a recording's name. */
  id: string;
  name?: string;
  /** The badge number or similar (UserID metadata). */
  userId?: string;
  active?: string;
}

export interface RegisteredDevice {
  serial: string;
  name?: string;
  model?: string;
  active?: string;
}

export interface Registry {
  users: Map<string, RegisteredUser>;
  devices: Map<string, RegisteredDevice>;
}

const text = (meta: MetaMap, key: string) => (meta[key] === undefined ? undefined : decodeMetaValue(meta[key]!).trim());

/** The objects of a registry container, in name order; none before the BWS made it. */
async function* registered(store: ObjectStore, account: string, container: string) {
  const exists = await store.container(account, container).then(
    () => true,
    () => false,
  );
  if (exists) yield* store.objects(account, container);
}

export async function loadRegistry(store: ObjectStore, account: string): Promise<Registry> {
  const users = new Map<string, RegisteredUser>();
  for await (const u of registered(store, account, USERS))
    users.set(u.name, { id: u.name, name: text(u.meta, 'name'), userId: text(u.meta, 'userid'), active: text(u.meta, 'active') });
  const devices = new Map<string, RegisteredDevice>();
  for await (const d of registered(store, account, DEVICES))
    devices.set(d.name, { serial: d.name, name: text(d.meta, 'name'), model: text(d.meta, 'model'), active: text(d.meta, 'active') });
  return { users, devices };
}

/** "Display Name (UserID)", as the spec recommends showing a user; the UUID when nothing else is known. */
export function userLabel(registry: Registry, id: string | undefined): string {
  if (id === undefined) return '—';
  const u = registry.users.get(id);
  if (!u || (!u.name && !u.userId)) return id;
  return u.name && u.userId ? `${u.name} (${u.userId})` : (u.name ?? u.userId!);
}

export function deviceLabel(registry: Registry, serial: string | undefined): string {
  if (serial === undefined) return '—';
  const d = registry.devices.get(serial);
  return d?.name ? `${d.name} (${serial})` : serial;
}
