/**
 * The body-worn meaning of a change, checked before the store makes it:
 *
 * - Sealing: once a recording container's Status is Complete, the BWS sends
 *   nothing more for it; any request that would change it or its objects is
 *   refused (403) and nothing changes. A retried request that changes nothing
 *   still succeeds, so a BWS whose answer was lost is not told it failed.
 *   One exception: a replicating station (the replicator role) may add a
 *   bookmark, GNSS track or track key this central did not declare it could
 *   take when the recording arrived (the capability came later). It is a new
 *   object, never a change to one, and it is logged.
 * - Registry: Users/ and Devices/ objects count against licence limits
 *   (limits.maxUsers / limits.maxDevices; 402 for one more), and with
 *   StoreUserIDKey a user's UserID is empty or unique (400 on a clash).
 * - Recordings: a container named <UserID>_<BWCSerialNumber>_<TriggerOnTime>
 *   needs a real trigger time, a registered user and camera, and metadata that
 *   agrees with its name; a clip needs a duration and a ContainerType that
 *   matches its extension. A 400 tells the BWS it "can't store (and never will
 *   be able to store)" the recording, so the reason goes in the body and the log.
 *   RejectedContent_* containers are never refused for their content, and
 *   containers with other names are plain Swift containers (no BWS writes them).
 *
 * Reads bypass this; every mutation from the API goes through it. The seal is
 * checked before the store takes its own lock: a BWS sends nothing for a
 * recording while, or after, it seals it, so that window is not one a BWS uses.
 */
import { withoutCustody } from '../audit/custody-metadata.ts';
import { EdgeError, badRequest, notFound } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ContainerEntry, ObjectEntry, ObjectStore, PutObjectInput } from '../store/object-store.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { decodeMetaValue, mergeMeta, sameMeta, type MetaMap, type MetaUpdate } from '../swift/metadata.ts';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { anchorContainerKeyId, anchorObject } from '../audit/anchors.ts';
import { checkSignedHead, keyIdOf } from '../audit/station-key.ts';
import { MAX_TRACK_BYTES } from './gnss.ts';
import { isKeyFile, isTrack, pairKeyFiles } from './key-files.ts';
import { DEVICES, parseClipName, parseEpoch, parseRecordingName, USERS, type RecordingName } from './names.ts';

export { DEVICES, SYSTEM, USERS } from './names.ts';

export interface DestinationSettings {
  /** 0 = no limit. */
  maxUsers: number;
  maxDevices: number;
  /** StoreUserIDKey is declared: UserIDs must be unique. */
  uniqueUserIds: boolean;
  /** validation.strict: refuse recordings of unregistered users/cameras or with disagreeing metadata. */
  strict: boolean;
  /** The connection file's ContainerType (another one is accepted, and logged). */
  containerType: 'mkv' | 'mp4';
  log: Logger;
  /** Whether the host clock is known to be synchronised (never blocks). */
  clockSynchronised: () => boolean;
  /** While it is not: times further ahead than this are refused as absurd (validation.maxDaysAheadUnsynchronised). */
  maxDaysAheadUnsynchronised: number;
  /** How far a clip may start before, or end after, its recording's window (pre- and post-buffers), seconds. */
  clipSlackSeconds: number;
  now?: () => number;
}

const EARLIEST = Date.UTC(2000, 0, 1);
const DAY = 86_400_000;

const isComplete = (meta: MetaMap | undefined) => meta?.status !== undefined && decodeMetaValue(meta.status) === 'Complete';

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
    const merged = mergeMeta(existing?.meta ?? {}, update);
    if (existing && isComplete(existing.meta) && !sameMeta(existing.meta, merged)) throw sealed(container);
    await this.#checkRecording(account, container, merged, !existing);
    return this.#store.putContainer(account, container, update);
  }

  async postContainer(account: string, container: string, update: MetaUpdate): Promise<void> {
    const existing = await this.#store.container(account, container);
    const merged = mergeMeta(existing.meta, update);
    if (isComplete(existing.meta) && !sameMeta(existing.meta, merged)) throw sealed(container);
    await this.#checkRecording(account, container, merged, false);
    await this.#store.postContainer(account, container, update);
  }

  /** The recording rules for a container PUT/POST (no-op for other names). */
  async #checkRecording(account: string, container: string, meta: MetaMap, creating: boolean): Promise<void> {
    const name = parseRecordingName(container);
    if (!name) return;
    const refusals: string[] = [];
    const relaxable: string[] = [];
    const now = (this.#settings.now ?? Date.now)();
    // Times are judged when the recording is created: a recording accepted while
    // the clock was unsynchronised must still be sealable once it syncs.
    if (creating) {
      if (name.triggerOn === undefined) refusals.push('its trigger time is not a real date');
      else refusals.push(...this.#timeProblems('its trigger time', name.triggerOn, now, { container }));
      if (!(await this.#exists(account, USERS, name.userId))) relaxable.push(`user ${name.userId} is not registered in ${USERS}/`);
      if (!(await this.#exists(account, DEVICES, name.deviceSerial))) relaxable.push(`camera ${name.deviceSerial} is not registered in ${DEVICES}/`);
    }
    relaxable.push(...disagreements(container, name, meta));
    if (!this.#settings.strict && relaxable.length > 0) {
      this.#settings.log.warn({ container, problems: relaxable }, 'recording accepted despite problems (validation.strict is false)');
    } else {
      refusals.push(...relaxable);
    }
    if (refusals.length > 0) {
      this.#settings.log.warn({ container, problems: refusals }, 'recording refused');
      throw badRequest(`Recording ${container} cannot be stored: ${refusals.join('; ')}`);
    }
  }

  /**
   * A time from 2000 on, and not in the future: more than a day ahead of a
   * synchronised clock is refused; an unsynchronised clock may be wrong, so a
   * later time is accepted (and logged) unless absurdly far ahead.
   */
  #timeProblems(what: string, ms: number, now: number, where: Record<string, string>): string[] {
    if (ms < EARLIEST) return [`${what} is before 2000-01-01`];
    if (ms <= now + DAY) return [];
    if (this.#settings.clockSynchronised()) return [`${what} is more than a day in the future`];
    const days = this.#settings.maxDaysAheadUnsynchronised;
    if (ms > now + days * DAY)
      return [
        `${what} (${new Date(ms).toISOString()}) is more than ${days} days after this station's clock, which is not synchronised: not a plausible time (validation.maxDaysAheadUnsynchronised)`,
      ];
    this.#settings.log.warn({ ...where, time: new Date(ms).toISOString() }, `${what} is in the future of an unsynchronised clock; accepted`);
    return [];
  }

  /**
   * The clip rules for an object PUT into a recording: a duration, its
   * ContainerType, plausible times, and inside its recording's window
   * (StartTime, which includes the pre-buffer, to StopTime once known, with
   * validation.clipSlackSeconds either side). Start/StopLocation (removed in
   * v1.6.12) are accepted when older firmware sends them, never required.
   */
  async #checkClip(account: string, container: string, object: string, meta: MetaMap, recording: MetaMap): Promise<void> {
    const name = parseRecordingName(container);
    if (!name) return;
    const clip = parseClipName(object);
    if (!clip) return; // key files, bookmarks, GNSS tracks
    const start = meta.starttime === undefined ? undefined : parseEpoch(decodeMetaValue(meta.starttime));
    const stop = meta.stoptime === undefined ? undefined : parseEpoch(decodeMetaValue(meta.stoptime));
    const problems: string[] = [];
    const relaxable: string[] = [];
    const now = (this.#settings.now ?? Date.now)();
    const where = { container, object };
    if (start !== undefined) problems.push(...this.#timeProblems('its StartTime', start, now, where));
    if (stop !== undefined) problems.push(...this.#timeProblems('its StopTime', stop, now, where));
    const slack = this.#settings.clipSlackSeconds * 1000;
    const recordingStart = (recording.starttime === undefined ? undefined : parseEpoch(decodeMetaValue(recording.starttime))) ?? name.triggerOn;
    const recordingStop = recording.stoptime === undefined ? undefined : parseEpoch(decodeMetaValue(recording.stoptime));
    if (start !== undefined && recordingStart !== undefined && start < recordingStart - slack) {
      relaxable.push(
        `it starts ${Math.round((recordingStart - start) / 1000)} s before its recording (${new Date(recordingStart).toISOString()}; validation.clipSlackSeconds is ${slack / 1000})`,
      );
    }
    if (stop !== undefined && recordingStop !== undefined && stop > recordingStop + slack) {
      relaxable.push(
        `it ends ${Math.round((stop - recordingStop) / 1000)} s after its recording (${new Date(recordingStop).toISOString()}; validation.clipSlackSeconds is ${slack / 1000})`,
      );
    }
    if (!this.#settings.strict && relaxable.length > 0)
      this.#settings.log.warn({ ...where, account, problems: relaxable }, 'clip accepted despite problems (validation.strict is false)');
    else problems.push(...relaxable);
    // Whole-second times cannot show a clip shorter than a second: equal is a
    // duration then; with sub-second times equal means none.
    const subSecond = /\./.test(decodeMetaValue(meta.starttime ?? '') + decodeMetaValue(meta.stoptime ?? ''));
    if (start !== undefined && stop !== undefined && (stop < start || (stop === start && subSecond))) {
      problems.push('the clip has no duration (StopTime is not after StartTime)');
    }
    const type = meta.containertype === undefined ? undefined : decodeMetaValue(meta.containertype).trim().toLowerCase();
    if (type && type !== clip.extension) problems.push(`its ContainerType ${type} does not match its .${clip.extension} name`);
    if (problems.length > 0) {
      this.#settings.log.warn({ container, object, problems }, 'clip refused');
      throw badRequest(`Clip ${container}/${object} cannot be stored: ${problems.join('; ')}`);
    }
    if (clip.extension !== this.#settings.containerType) {
      // The setting may have changed since the camera recorded this.
      this.#settings.log.info({ container, object, containerType: this.#settings.containerType }, 'clip type differs from the connection file');
    }
  }

  async #exists(account: string, container: string, object: string): Promise<boolean> {
    return this.#store.object(account, container, object).then(
      () => true,
      () => false,
    );
  }

  /** `late`: from a replicating station, which may add a held-back kind to a sealed recording (see above). The bytes are still checked against the SHA-256. */
  async putObject(input: PutObjectInput, late = false): Promise<ObjectEntry> {
    const anchorKeyId = anchorContainerKeyId(input.container);
    if (anchorKeyId !== undefined) return this.#putAnchor(input, anchorKeyId);
    if (isTrack(input.object) && parseRecordingName(input.container)) input = boundTrack(input);
    if (
      late &&
      (await this.#store.object(input.account, input.container, input.object).then(
        () => false,
        () => true,
      ))
    ) {
      const entry = await this.#store.container(input.account, input.container).catch(() => undefined);
      if (entry && isComplete(entry.meta) && parseRecordingName(input.container) && (await this.#isLateKind(input, entry.meta))) {
        this.#settings.log.warn(
          { container: input.container, object: input.object },
          'a replicating station adds a late object to a Complete recording (a capability this CD declared after the recording arrived)',
        );
        return this.#store.putObject({ ...input, mustNotExist: true });
      }
    }
    const recording = await this.#refuseIfSealed(input.account, input.container);
    await this.#checkClip(input.account, input.container, input.object, input.meta, recording.meta);
    const limit = this.#limitFor(input.container);
    if (limit === undefined && !this.#checksUserId(input.container)) return this.#store.putObject(input);
    return this.#registry.run(`${input.account}\0${input.container}`, async () => {
      const exists = await this.#store.object(input.account, input.container, input.object).then(
        () => true,
        () => false,
      );
      if (!exists && limit !== undefined) {
        const { objectCount } = await this.#store.container(input.account, input.container);
        if (objectCount >= limit) {
          throw new EdgeError(
            'PaymentRequired',
            `Licence limit reached: ${limit} ${input.container === USERS ? 'users' : 'devices'} (limits.${input.container === USERS ? 'maxUsers' : 'maxDevices'})`,
          );
        }
      }
      if (this.#checksUserId(input.container)) await this.#refuseDuplicateUserId(input.account, input.object, input.meta);
      return this.#store.putObject(input);
    });
  }

  /**
   * An object's metadata (and X-Delete-At) replaced. A sealed recording's
   * objects never change, but for one thing: a replicating station may move
   * their X-Delete-At (its retention changed, a hold was placed), sending the
   * metadata the object already has.
   */
  async postObject(
    account: string,
    container: string,
    object: string,
    meta: MetaMap,
    contentType: string | undefined,
    o: { deleteAt: number | null; replicator: boolean },
  ): Promise<void> {
    if (anchorContainerKeyId(container) !== undefined) throw new EdgeError('Forbidden', 'An audit anchor is never changed');
    if (o.replicator && (await this.#onlyDeleteAtChanges(account, container, object, meta, contentType))) return this.#store.setDeleteAt(account, container, object, o.deleteAt);
    const recording = await this.#refuseIfSealed(account, container);
    await this.#checkClip(account, container, object, meta, recording.meta);
    if (!this.#checksUserId(container)) return this.#store.postObject(account, container, object, meta, contentType, o.deleteAt);
    await this.#registry.run(`${account}\0${container}`, async () => {
      await this.#refuseDuplicateUserId(account, object, meta);
      await this.#store.postObject(account, container, object, meta, contentType, o.deleteAt);
    });
  }

  /**
   * A replicating station's POST that would change nothing but X-Delete-At:
   * the body-worn metadata and the type as the object has them. The custody
   * keys are the station's and stay as the object first received them (a
   * video verdict may have come to the station since).
   */
  async #onlyDeleteAtChanges(account: string, container: string, object: string, meta: MetaMap, contentType: string | undefined): Promise<boolean> {
    const existing = await this.#store.object(account, container, object).catch(() => undefined);
    if (!existing || (contentType !== undefined && contentType !== existing.contentType)) return false;
    return sameMeta(withoutCustody(existing.meta), withoutCustody(meta));
  }

  /**
   * A station's signed audit head (audit/anchors.ts): stored only if it is
   * one, signed by the key the container is named for, under the name of its
   * seq; and never replaced (the same bytes again are a retry, and succeed).
   */
  async #putAnchor(input: PutObjectInput, keyId: string): Promise<ObjectEntry> {
    if (input.expectedBytes !== undefined && input.expectedBytes > MAX_ANCHOR_BYTES) throw new EdgeError('EntityTooLarge', `An audit anchor is at most ${MAX_ANCHOR_BYTES} bytes`);
    const bytes = await readSmall(input.body, MAX_ANCHOR_BYTES);
    let head: ReturnType<typeof checkSignedHead>;
    try {
      head = checkSignedHead(JSON.parse(bytes.toString('utf8')));
    } catch {
      head = 'not JSON';
    }
    if (typeof head === 'string') throw new EdgeError('EtagMismatch', `Not a signed audit head: ${head}`);
    if (keyIdOf(head.publicKey) !== keyId) throw new EdgeError('EtagMismatch', `Signed by key ${keyIdOf(head.publicKey)}, not by ${keyId}, whose anchors ${input.container} holds`);
    if (input.object !== anchorObject(head.seq)) throw badRequest(`The anchor of line ${head.seq} is named ${anchorObject(head.seq)}`);
    const md5 = createHash('md5').update(bytes).digest('hex');
    const again = async () => {
      const existing = await this.#store.object(input.account, input.container, input.object).catch(() => undefined);
      if (existing && existing.md5 !== md5)
        throw new EdgeError('Conflict', `${input.container}/${input.object} is anchored already, with other bytes: an anchor is never replaced`);
      return existing;
    };
    const existing = await again();
    if (existing) return existing;
    try {
      return await this.#store.putObject({ ...input, body: Readable.from([bytes]), expectedBytes: bytes.length, contentType: 'application/json', mustNotExist: true });
    } catch (err) {
      if (!(err instanceof EdgeError && err.code === 'PreconditionFailed')) throw err;
      return (await again())!; // the same anchor, sent twice at once
    }
  }

  async #refuseIfSealed(account: string, container: string): Promise<ContainerEntry> {
    const entry = await this.#store.container(account, container).catch(() => {
      throw notFound(`Container ${container} not found`);
    });
    if (isComplete(entry.meta)) throw sealed(container);
    return entry;
  }

  /** What a station holds back until the CD declares it can take it: bookmarks, GNSS tracks and their key files. */
  async #isLateKind(input: PutObjectInput, containerMeta: MetaMap): Promise<boolean> {
    if (input.object.startsWith('bookmark_') || isTrack(input.object)) return true;
    if (!isKeyFile({ name: input.object, meta: input.meta })) return false;
    const objects = (await this.#store.listObjects(input.account, input.container, { prefix: '', marker: '', endMarker: '', delimiter: '', limit: 10_000 })).filter(
      (o): o is ObjectEntry => !('subdir' in o),
    );
    const start = containerMeta.starttime === undefined ? parseRecordingName(input.container)?.triggerOn : parseEpoch(decodeMetaValue(containerMeta.starttime));
    const { keyOf } = pairKeyFiles([...objects, { name: input.object, meta: input.meta }], start);
    return [...keyOf].some(([content, key]) => key === input.object && isTrack(content));
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
    for await (const entry of this.#store.objects(account, USERS)) {
      if (entry.name !== user && entry.meta.userid !== undefined && decodeMetaValue(entry.meta.userid).trim() === wanted) {
        throw new EdgeError('BadRequest', `UserID ${JSON.stringify(wanted)} already belongs to user ${entry.name}; a UserID must be empty or unique`);
      }
    }
  }
}

/** Metadata that repeats what the name says must say the same. */
function disagreements(container: string, name: RecordingName, meta: MetaMap): string[] {
  const value = (key: string) => (meta[key] === undefined ? '' : decodeMetaValue(meta[key]!).trim());
  const problems: string[] = [];
  if (value('containername') && value('containername') !== container) problems.push(`its ContainerName metadata is ${JSON.stringify(value('containername'))}`);
  if (value('userid') && value('userid') !== name.userId) problems.push(`its UserID metadata ${JSON.stringify(value('userid'))} differs from the name's ${name.userId}`);
  if (value('bwcserialnumber') && value('bwcserialnumber') !== name.deviceSerial) {
    problems.push(`its BWCSerialNumber metadata ${JSON.stringify(value('bwcserialnumber'))} differs from the name's ${name.deviceSerial}`);
  }
  if (value('triggerontime')) {
    const at = parseEpoch(value('triggerontime'));
    if (name.triggerOn !== undefined && (at === undefined || Math.floor(at / 1000) !== name.triggerOn / 1000)) {
      problems.push(`its TriggerOnTime metadata ${JSON.stringify(value('triggerontime'))} differs from the name's ${new Date(name.triggerOn).toISOString()}`);
    }
  }
  return problems;
}

/** Signed audit heads are a few hundred bytes. */
const MAX_ANCHOR_BYTES = 4096;

/** A body of at most `max` bytes, whole (413 beyond). */
async function readSmall(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length;
    if (bytes > max) throw new EdgeError('EntityTooLarge', `At most ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A GNSS track is JSON that readers parse: bounded in size (413 beyond), whatever objects.maxBytes allows. */
function boundTrack(input: PutObjectInput): PutObjectInput {
  if (input.expectedBytes !== undefined && input.expectedBytes > MAX_TRACK_BYTES) {
    throw new EdgeError('EntityTooLarge', `A GNSS track may be at most ${MAX_TRACK_BYTES} bytes; ${input.object} declares ${input.expectedBytes}`);
  }
  return { ...input, maxBytes: MAX_TRACK_BYTES };
}

function sealed(container: string): EdgeError {
  return new EdgeError('Forbidden', `Recording ${container} is Complete: it and its objects can no longer change`);
}
