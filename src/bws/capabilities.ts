/**
 * The Capability API: `System/Capabilities.json`, served from configuration.
 *
 * A capability, once declared to a BWS, must stay supported (the spec: "once a
 * content destination declares that it has support for a capability, it's
 * expected to always have support for it"). edgecd remembers every capability
 * it has declared in DIR/declared-capabilities.json and refuses to start with
 * a configuration that would withdraw one.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorError } from '../errors.ts';
import { writeFileDurable } from '../store/durable.ts';

export type CapabilityGroup = 'Read' | 'Store' | 'StoreAndRead';

/**
 * Every capability in the spec, in the group its name puts it in ("Store" for
 * PUT/POST, "Read" for GET/HEAD, both for StoreRead...), with edgecd's default:
 * on where edgecd supports it today.
 */
export const CAPABILITIES = {
  ReadCategories: { group: 'Read', default: true },
  StoreReadSystemID: { group: 'StoreAndRead', default: true },
  // bws/content-destination.ts keeps a user's UserID empty or unique.
  StoreUserIDKey: { group: 'Store', default: true },
  StoreBookmarks: { group: 'Store', default: true },
  StoreSignedVideo: { group: 'Store', default: true },
  StoreGNSSTrackRecording: { group: 'Store', default: true },
  StoreRejectedContent: { group: 'Store', default: true },
} as const satisfies Record<string, { group: CapabilityGroup; default: boolean }>;

export type CapabilityName = keyof typeof CAPABILITIES;
export type CapabilitySettings = Record<CapabilityName, boolean>;

export interface JsonDocument {
  /** The exact bytes served. */
  body: Buffer;
  /** md5 hex of `body`: the BWS checks it ("object corrupt" otherwise). */
  etag: string;
}

export function jsonDocument(value: unknown): JsonDocument {
  const body = Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
  return { body, etag: createHash('md5').update(body).digest('hex') };
}

/**
 * The Capabilities.json document for these settings. Each capability is in
 * the group its name gives it and also under StoreAndRead, where Axis's
 * reference server lists every one: firmware that looks there finds them too.
 */
export function capabilitiesDocument(settings: CapabilitySettings): JsonDocument {
  const groups: Record<CapabilityGroup, Record<string, boolean>> = { Read: {}, Store: {}, StoreAndRead: {} };
  for (const [name, { group }] of Object.entries(CAPABILITIES)) {
    groups[group][name] = settings[name as CapabilityName];
    groups.StoreAndRead[name] = settings[name as CapabilityName];
  }
  return jsonDocument(groups);
}

interface Declared {
  /** Capability → when edgecd first declared it. */
  capabilities: Record<string, string>;
}

const declaredFile = (dir: string) => join(dir, 'declared-capabilities.json');

/**
 * Refuses settings that withdraw a capability declared before, then records
 * the ones declared now. Call before serving.
 */
export async function recordDeclaredCapabilities(dir: string, settings: CapabilitySettings, now = new Date()): Promise<void> {
  const file = declaredFile(dir);
  const declared: Declared = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Declared, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return { capabilities: {} };
    throw err;
  });
  const withdrawn = Object.entries(declared.capabilities).filter(([name]) => settings[name as CapabilityName] === false);
  if (withdrawn.length > 0) {
    throw new OperatorError(withdrawn.map(([name, since]) =>
      `capabilities.${name}: declared to the body-worn system since ${since}; a declared capability must stay supported, so it cannot be set to false`).join('\n'));
  }
  let changed = false;
  for (const [name, on] of Object.entries(settings)) {
    if (on && !declared.capabilities[name]) {
      declared.capabilities[name] = now.toISOString();
      changed = true;
    }
  }
  if (changed) await writeFileDurable(file, JSON.stringify(declared, null, 2) + '\n', 0o640);
}
