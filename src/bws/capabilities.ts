/**
 * The Capability API: `System/Capabilities.json`, served from configuration.
 *
 * A capability, once declared to a BWS, must stay supported (the spec: "once a
 * content destination declares that it has support for a capability, it's
 * expected to always have support for it"). edgecd remembers every capability
 * it has declared in DIR/declared-capabilities.json and refuses to start with
 * a configuration that sets one to false.
 *
 * ReadCategories is declared only once there are categories to read (the
 * station's own or a central's): until then a BWS falls back to its built-in
 * categories, as the spec says it does when the capability "isn't fulfilled".
 * StoreSignedVideo, which the spec reserves for a CD that can display and
 * verify signed video, is on by default: every clip's signature is checked
 * (authenticity/). A station that declared either keeps declaring it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorError } from '../lib/errors.ts';
import { writeFileDurable } from '../lib/durable.ts';
import { CAPABILITIES, type CapabilityGroup, type CapabilityName, type CapabilitySettings } from '../connection/capability-names.ts';

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

async function readDeclared(dir: string): Promise<Declared> {
  return readFile(declaredFile(dir), 'utf8').then(
    (t) => JSON.parse(t) as Declared,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return { capabilities: {} };
      throw err;
    },
  );
}

/**
 * What the station declares, kept current: the configured capabilities that
 * can be fulfilled now, and every one declared before. A capability newly
 * declared is remembered (durably) before the document that declares it is
 * served.
 */
export class CapabilityPublisher {
  readonly #dir: string;
  readonly #settings: CapabilitySettings;
  readonly #categories: () => Promise<boolean>;
  #declared: Declared;
  #served: { key: string; doc: JsonDocument } | undefined;

  private constructor(dir: string, settings: CapabilitySettings, categories: () => Promise<boolean>, declared: Declared) {
    this.#dir = dir;
    this.#settings = settings;
    this.#categories = categories;
    this.#declared = declared;
  }

  /**
   * Refuses a configuration that sets to false a capability declared before
   * (`given`: the keys the configuration file set); one that is merely off by
   * default stays declared. Call before serving.
   */
  static async open(dir: string, settings: CapabilitySettings, given: ReadonlySet<string>, categoriesExist: () => Promise<boolean>): Promise<CapabilityPublisher> {
    const declared = await readDeclared(dir);
    const withdrawn = Object.entries(declared.capabilities).filter(([name]) => settings[name as CapabilityName] === false && given.has(`capabilities.${name}`));
    if (withdrawn.length > 0) {
      throw new OperatorError(
        withdrawn
          .map(([name, since]) => `capabilities.${name}: declared to the body-worn system since ${since}; a declared capability must stay supported, so it cannot be set to false`)
          .join('\n'),
      );
    }
    const publisher = new CapabilityPublisher(dir, settings, categoriesExist, declared);
    await publisher.document();
    return publisher;
  }

  /** The capabilities declared now. */
  async declared(): Promise<Set<CapabilityName>> {
    const on = new Set<CapabilityName>();
    const categories = await this.#categories();
    for (const name of Object.keys(CAPABILITIES) as CapabilityName[]) {
      const fulfilled = name === 'ReadCategories' ? categories : true;
      if ((this.#settings[name] && fulfilled) || this.#declared.capabilities[name]) on.add(name);
    }
    return on;
  }

  async document(): Promise<JsonDocument> {
    const on = await this.declared();
    const key = [...on].sort().join();
    if (this.#served?.key === key) return this.#served.doc;
    const fresh = [...on].filter((name) => !this.#declared.capabilities[name]);
    if (fresh.length > 0) {
      const now = new Date().toISOString();
      const next: Declared = { capabilities: { ...this.#declared.capabilities, ...Object.fromEntries(fresh.map((name) => [name, now])) } };
      await writeFileDurable(declaredFile(this.#dir), JSON.stringify(next, null, 2) + '\n', 0o640);
      this.#declared = next;
    }
    const settings = Object.fromEntries(Object.keys(CAPABILITIES).map((name) => [name, on.has(name as CapabilityName)])) as CapabilitySettings;
    this.#served = { key, doc: capabilitiesDocument(settings) };
    return this.#served.doc;
  }

  /** What /status says: each declared capability since when, and why some are (not) declared. */
  async report(): Promise<{ declared: Record<string, string>; notes: string[] }> {
    const on = await this.declared();
    const notes: string[] = [];
    if (this.#settings.ReadCategories && !on.has('ReadCategories'))
      notes.push('ReadCategories is not declared yet: no categories are set (edgecd categories set) or published by a central; cameras use their built-in categories');
    return { declared: Object.fromEntries([...on].map((name) => [name, this.#declared.capabilities[name] ?? ''])), notes };
  }
}
