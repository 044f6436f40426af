/**
 * One object to one target, as a pass moves it: confirmed where the target
 * already holds this version, else sent and then confirmed as strongly as
 * the target allows (confirmation.ts), and the level recorded in the
 * ledger. An object the target refuses (400) goes into its recording's
 * RejectedContent_ container where the target declares StoreRejectedContent.
 *
 * What the target's HEAD shows, and whether it keeps the custody metadata,
 * is learnt from the first object HEAD of the pass: no object is sent twice
 * in a pass for want of a field.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import { CUSTODY_SHA256, custodyMeta, withoutCustody } from '../audit/custody-metadata.ts';
import { VideoLedger } from '../authenticity/video-ledger.ts';
import { CUSTODY_VIDEO, videoMetaValue } from '../authenticity/video-metadata.ts';
import { USERS } from '../bws/content-destination.ts';
import { formatCompactTime } from '../bws/names.ts';
import type { ConfirmationLevel, ReplicationTarget } from '../config/config.ts';
import { hashStream } from '../lib/digests.ts';
import { noteBodyBytes } from '../lib/young-gc.ts';
import type { ContainerEntry, ObjectEntry, ObjectStore } from '../store/object-store.ts';
import { etagOf, header, swiftPath, type SwiftClient } from '../swift/client.ts';
import { canonicalKey, type MetaMap } from '../swift/metadata.ts';
import { type DeleteAt, deleteAtChanged, type DeleteAtJudge } from '../lifecycle/delete-at.ts';
import { headShowsContent, keptCustody, sameContent, showsMeta } from './confirmation.ts';
import type { ObjectState, ReplicationLedger } from './ledger.ts';
import { is2xx, refusal, ReplicationFailure, type TargetRequests } from './target-requests.ts';
import { metered, type TokenBucket } from './throttle.ts';

/** What a transfer needs of the station and the target. */
export interface TransferContext {
  store: ObjectStore;
  ledger: ReplicationLedger;
  target: ReplicationTarget;
  /** The target's reader credentials, where configured: objects are read back when its HEAD cannot show them. */
  reader?: SwiftClient;
  bucket: TokenBucket | undefined;
  station: string;
  /** The station's public signing key (audit/station-key.ts), sent with the custody metadata. */
  stationKey?: string;
  /** The audit trail: each confirmed recording, and content the target refused, is recorded there for the chain of custody. */
  audit?: AuditSink;
  /** Resolves once a recording's clips have their signed-video verdicts (or it is not worth waiting longer). */
  videoChecked?: (account: string, container: string) => Promise<unknown>;
  /** With the target's setDeleteAt: what works out the X-Delete-At recordings' copies should carry now. */
  deleteAt?: () => Promise<DeleteAtJudge>;
  /** Whether this pass looks over what the target holds for copies whose X-Delete-At must change. */
  sweepDeleteAt?: boolean;
  log: Logger;
}

/** The pass's counts a transfer keeps up to date (the pass report is one). */
export interface TransferCounts {
  objectsSent: number;
  objectsConfirmed: number;
  bytesSent: number;
  objectsRejected: number;
}

/** How the objects of one container go. */
export interface ObjectHow {
  /** The container existed on the target: ask before sending. */
  targetMayHave: boolean;
  /** The target holds the recording as Complete: nothing may be added (but late deliveries). */
  sealedOnTarget: boolean;
  /** Where a refused object goes instead (a recording's rejected content), when the target declares it. */
  rejection?: Rejection;
  /** The whole recording was refused: every object goes into its rejected content. */
  allRejected?: boolean;
  /** The X-Delete-At its copies carry (null: none); undefined where the station does not set it. */
  deleteAt?: DeleteAt | null;
}

/** One RejectedContent_ container per recording and pass, made when the first object is refused. */
export class Rejection {
  readonly original: ContainerEntry;
  name: string | undefined;
  /** Why the whole recording was refused, when it was. */
  reason: string | undefined;
  constructor(original: ContainerEntry) {
    this.original = original;
  }
}

export class ObjectTransfer {
  readonly #c: TransferContext;
  readonly #requests: TargetRequests;
  readonly #capabilities: ReadonlySet<string>;
  readonly #counts: TransferCounts;
  readonly #advance: (bytes: number) => void;
  readonly #now: () => number;
  #headShowsContent: boolean | undefined;
  #keepsCustody: boolean | undefined;
  #readerWorks: boolean;

  constructor(
    context: TransferContext,
    parts: {
      requests: TargetRequests;
      /** What the target declares, as the pass read it. */
      capabilities: ReadonlySet<string>;
      /** What an earlier pass learnt: whether the target keeps custody metadata. */
      keepsCustody: boolean | undefined;
      counts: TransferCounts;
      /** Bytes moved (or found already there), for the pass's progress; negative to take some back. */
      advance: (bytes: number) => void;
      now: () => number;
    },
  ) {
    this.#c = context;
    this.#requests = parts.requests;
    this.#capabilities = parts.capabilities;
    this.#keepsCustody = parts.keepsCustody;
    this.#counts = parts.counts;
    this.#advance = parts.advance;
    this.#now = parts.now;
    this.#readerWorks = context.reader !== undefined;
  }

  get #name(): string {
    return this.#c.target.name;
  }

  /** What this pass learnt of the target's HEAD (undefined before the first object HEAD). */
  get headShowsContent(): boolean | undefined {
    return this.#headShowsContent;
  }

  get keepsCustody(): boolean | undefined {
    return this.#keepsCustody;
  }

  /** The strongest level this target allows, once a HEAD has shown it. */
  level(): ConfirmationLevel | undefined {
    if (this.#headShowsContent === undefined) return undefined;
    return this.#headShowsContent ? 'verified' : this.#readerWorks ? 'read-back' : 'acknowledged';
  }

  /** One object: confirmed where the target already holds it, else sent and confirmed. Returns the level reached, and whether it went into rejected content. */
  async send(account: string, container: ContainerEntry, entry: ObjectEntry, how: ObjectHow): Promise<{ level: ConfirmationLevel; rejected: boolean }> {
    const { ledger } = this.#c;
    const { meta, withheld } = await this.#outgoingMeta(account, container.name, entry);
    const state = await ledger.objectState(this.#name, account, container.name, entry.name);
    const sameVersion = state !== undefined && state.md5 === entry.md5 && state.timestamp === entry.timestamp && sameList(state.withheld, withheld);
    if (sameVersion && state.state === 'confirmed') {
      if (how.deleteAt !== undefined && !state.rejectedInto && deleteAtChanged(state.deleteAt, how.deleteAt))
        await this.#moveDeleteAt(container.name, entry, meta, state, how.deleteAt, account);
      this.#advance(entry.bytes);
      return { level: state.level ?? 'verified', rejected: state.rejectedInto !== undefined };
    }
    if (how.allRejected) return { level: await this.#reject(account, how.rejection!, entry, how.rejection!.reason!), rejected: true };
    if (how.targetMayHave || sameVersion) {
      const held = await this.#confirm(container.name, entry, meta, { putAnswered: sameVersion && state.state === 'sent', wanted: how.deleteAt });
      if (held) {
        const { level } = held;
        await this.#record(account, container.name, entry, level, withheld, held.deleteAt);
        this.#counts.objectsConfirmed += 1;
        this.#advance(entry.bytes);
        return { level, rejected: false };
      }
    }
    if (how.sealedOnTarget) throw new ReplicationFailure('refused', `the target holds ${container.name} as Complete without this version of the object`);
    const put = await this.#put(account, container.name, entry, meta, undefined, how.deleteAt?.at);
    if (!is2xx(put)) {
      const failure = refusal(put, `PUT ${container.name}/${entry.name}`);
      if (put.status === 400 && how.rejection) return { level: await this.#reject(account, how.rejection, entry, failure.message), rejected: true };
      throw failure;
    }
    await ledger.setObjectState(this.#name, account, container.name, entry.name, { ...this.state('sent', entry), ...(withheld.length ? { withheld } : {}) });
    const held = await this.#confirm(container.name, entry, meta, { putAnswered: true, justPut: true, wanted: how.deleteAt });
    if (!held) throw new ReplicationFailure('transient', `${container.name}/${entry.name}: after a ${put.status} the target's HEAD does not show the object as sent`);
    const { level } = held;
    await this.#record(account, container.name, entry, level, withheld, held.deleteAt);
    this.#counts.objectsSent += 1;
    this.#counts.bytesSent += entry.bytes;
    return { level, rejected: false };
  }

  /** An object's state in the ledger, as of now. */
  state(state: ObjectState['state'], entry: ObjectEntry): ObjectState {
    return { state, md5: entry.md5, bytes: entry.bytes, timestamp: entry.timestamp, at: this.#now() };
  }

  /** What goes with an object: the BWS's metadata (less what the target cannot take) and, where kept, custody (with a clip's video verdict). */
  async #outgoingMeta(account: string, container: string, entry: ObjectEntry): Promise<{ meta: MetaMap; bws: MetaMap; withheld: string[] }> {
    const bws = { ...entry.meta };
    const withheld: string[] = [];
    if (container === USERS && bws.userid !== undefined && !this.#capabilities.has('StoreUserIDKey')) {
      delete bws.userid;
      withheld.push('userid');
    }
    const custody = this.#c.target.custodyMetadata && this.#keepsCustody !== false;
    if (!custody) return { meta: bws, bws, withheld };
    const check = await VideoLedger.of(this.#c.store.index).clip(account, container, entry.name);
    const video: MetaMap = check?.sha256 === entry.sha256 ? { [CUSTODY_VIDEO]: videoMetaValue(check.verdict) } : {};
    return { meta: { ...bws, ...custodyMeta(entry, this.#c.station, this.#c.stationKey), ...video }, bws, withheld };
  }

  async #record(account: string, container: string, entry: ObjectEntry, level: ConfirmationLevel, withheld: string[], deleteAt: number | null | undefined): Promise<void> {
    const { ledger } = this.#c;
    await ledger.setObjectState(this.#name, account, container, entry.name, {
      ...this.state('confirmed', entry),
      level,
      ...(withheld.length ? { withheld } : {}),
      ...(deleteAt !== undefined ? { deleteAt } : {}),
    });
    // A user sent without its UserID waits for StoreUserIDKey, like a held-back object.
    if (withheld.length > 0) await ledger.holdBack(this.#name, account, container, entry.name, 'StoreUserIDKey');
  }

  async #put(account: string, container: string, entry: ObjectEntry, meta: MetaMap, source?: string, deleteAt?: number | null) {
    const headers = {
      ...metaHeaders('Object', meta),
      'Content-Length': String(entry.bytes),
      'Content-Type': entry.contentType,
      Etag: entry.md5,
      ...(typeof deleteAt === 'number' ? { 'X-Delete-At': String(deleteAt) } : {}),
    };
    const res = await this.#requests.call('PUT', swiftPath(container, entry.name), headers, async () => {
      // Read from where the object is on this station (the rejected copy goes elsewhere on the target).
      const { body } = await this.#c.store.readObject(account, source ?? container, entry.name, () => undefined);
      let sent = 0;
      const out = metered((n) => {
        sent += n;
        this.#advance(n);
        noteBodyBytes(n); // each file read is a new buffer
      }, this.#c.bucket);
      out.once('close', () => {
        body.destroy(); // the file closes whichever way the request ended
        // A send that failed part-way is counted again when retried: take it back.
        if (sent < entry.bytes) this.#advance(-sent);
      });
      return body.pipe(out);
    });
    const etag = etagOf(res.headers);
    if (is2xx(res) && etag !== undefined && etag !== entry.md5)
      throw new ReplicationFailure('transient', `${container}/${entry.name}: the target answered Etag ${etag} for md5 ${entry.md5}`);
    return res;
  }

  /**
   * The level at which the target is known to hold exactly this object, or
   * undefined. `acknowledged` counts only when this station's PUT of this
   * version got a 2xx (`putAnswered`): a HEAD alone cannot show bytes.
   */
  async #confirm(
    container: string,
    entry: ObjectEntry,
    meta: MetaMap,
    o: { putAnswered: boolean; justPut?: boolean; wanted?: DeleteAt | null | undefined },
  ): Promise<{ level: ConfirmationLevel; deleteAt?: number | null } | undefined> {
    const head = await this.#requests.call('HEAD', swiftPath(container, entry.name));
    if (head.status === 404) return undefined;
    if (!is2xx(head)) throw refusal(head, `HEAD ${container}/${entry.name}`);
    const level = await this.#levelShown(container, entry, meta, head.headers, o.putAnswered);
    if (!level || o.wanted === undefined) return level && { level };
    // The copy is this object: its X-Delete-At is moved where it differs (a copy from before, a pass cut short).
    let shown = shownDeleteAt(head.headers);
    if (deleteAtChanged(shown, o.wanted)) {
      if (o.justPut && shown === null)
        throw new ReplicationFailure(
          'refused',
          `${container}/${entry.name}: the target does not keep X-Delete-At (sent ${o.wanted?.at}, HEAD shows none): turn setDeleteAt off for it`,
        );
      shown = await this.#postDeleteAt(container, entry, meta, o.wanted);
    }
    return { level, deleteAt: shown };
  }

  /** The level at which a HEAD's headers show exactly this object, or undefined. */
  async #levelShown(container: string, entry: ObjectEntry, meta: MetaMap, headers: IncomingHttpHeaders, putAnswered: boolean): Promise<ConfirmationLevel | undefined> {
    this.#headShowsContent ??= headShowsContent(headers);
    const { [CUSTODY_SHA256]: custodySha, ...bwsAndStation } = meta;
    if (custodySha !== undefined && this.#keepsCustody === undefined && putAnswered) {
      this.#keepsCustody = keptCustody(headers, entry.meta);
      if (this.#keepsCustody === false) this.#c.log.warn({ target: this.#name }, 'the target does not keep X-Object-Meta-Edgecd-* custody metadata: it is no longer sent there');
    }
    const kept = this.#keepsCustody !== false && custodySha !== undefined;
    if (!showsMeta(headers, kept ? meta : withoutCustody(bwsAndStation))) return undefined;
    if (this.#headShowsContent) return sameContent(headers, entry.bytes, entry.md5) ? 'verified' : undefined;
    if (this.#readerWorks && (await this.#readBack(container, entry))) return 'read-back';
    return putAnswered ? 'acknowledged' : undefined;
  }

  /**
   * A copy the target holds gets another X-Delete-At, or loses it. A POST
   * replaces all of an object's metadata in Swift, so it carries everything
   * the PUT did; the HEAD after it must show the change.
   */
  async #moveDeleteAt(container: string, entry: ObjectEntry, meta: MetaMap, state: ObjectState, wanted: DeleteAt | null, account: string): Promise<void> {
    const deleteAt = await this.#postDeleteAt(container, entry, meta, wanted);
    await this.#c.ledger.setObjectState(this.#name, account, container, entry.name, { ...state, deleteAt, at: this.#now() });
  }

  /** The POST that moves a copy's X-Delete-At, checked by the HEAD after it; returns what the copy now carries. */
  async #postDeleteAt(container: string, entry: ObjectEntry, meta: MetaMap, wanted: DeleteAt | null): Promise<number | null> {
    const headers = { ...metaHeaders('Object', meta), 'Content-Type': entry.contentType, ...(wanted ? { 'X-Delete-At': String(wanted.at) } : { 'X-Remove-Delete-At': '1' }) };
    const post = await this.#requests.call('POST', swiftPath(container, entry.name), headers);
    if (!is2xx(post)) throw refusal(post, `POST ${container}/${entry.name} X-Delete-At`);
    const head = await this.#requests.call('HEAD', swiftPath(container, entry.name));
    if (!is2xx(head)) throw refusal(head, `HEAD ${container}/${entry.name}`);
    const shown = shownDeleteAt(head.headers);
    if (shown !== (wanted?.at ?? null))
      throw new ReplicationFailure('transient', `${container}/${entry.name}: after the POST the target shows X-Delete-At ${shown ?? 'none'}, not ${wanted?.at ?? 'none'}`);
    return shown;
  }

  /** GET with the reader's credentials, hashed as it streams; false when it differs. */
  async #readBack(container: string, entry: ObjectEntry): Promise<boolean> {
    let res;
    try {
      res = await this.#c.reader!.download(swiftPath(container, entry.name));
    } catch (err) {
      throw new ReplicationFailure('unreachable', `read back ${container}/${entry.name}: ${(err as Error).message}`);
    }
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      this.#readerWorks = false;
      this.#c.log.warn({ target: this.#name, status: res.status }, 'the target refuses reads with the reader credentials: objects are only acknowledged');
      return false;
    }
    if (res.status !== 200) {
      res.body.resume();
      throw refusal({ status: res.status, headers: res.headers, text: '', bytes: Buffer.alloc(0) }, `read back ${container}/${entry.name}`);
    }
    const { md5, sha256, bytes } = await hashStream(res.body);
    return bytes === entry.bytes && md5 === entry.md5 && sha256 === entry.sha256;
  }

  /** The recording's RejectedContent_ container on the target, made as a BWS makes it. */
  async #openRejection(account: string, rejection: Rejection, reason: string): Promise<string> {
    if (rejection.name) return rejection.name;
    const at = formatCompactTime(this.#now());
    const name = `RejectedContent_${at}_${randomUUID()}`;
    const { status: _status, ...meta } = rejection.original.meta;
    await putContainer(this.#requests, name, { ...meta, containername: name, ...rejectionMeta(rejection.original.name, at, reason) });
    rejection.name = name;
    this.#c.log.warn({ target: this.#name, container: rejection.original.name, into: name, reason }, 'the target refused content: sent as rejected content');
    await this.#c.audit?.append({
      actor: 'system',
      source: 'replication',
      action: 'replication.rejected',
      target: `AUTH_${account}/${rejection.original.name}`,
      result: 'refused',
      details: { to: this.#name, into: name, reason: reason.slice(0, 500) },
    });
    return name;
  }

  /** An object the target refused (400), sent into the recording's rejected content instead; both attempts are recorded. */
  async #reject(account: string, rejection: Rejection, entry: ObjectEntry, reason: string): Promise<ConfirmationLevel> {
    const into = await this.#openRejection(account, rejection, reason);
    const { meta } = await this.#outgoingMeta(account, rejection.original.name, entry);
    const rejectedMeta = { ...meta, rejectedcontentoriginalcontainer: encodeURIComponent(rejection.original.name) };
    const put = await this.#put(account, into, entry, rejectedMeta, rejection.original.name);
    if (!is2xx(put)) throw refusal(put, `PUT ${into}/${entry.name} (rejected content)`);
    const level = (await this.#confirm(into, entry, rejectedMeta, { putAnswered: true }))?.level;
    if (!level) throw new ReplicationFailure('transient', `${into}/${entry.name}: after a ${put.status} the target's HEAD does not show the rejected object`);
    await this.#c.ledger.setObjectState(this.#name, account, rejection.original.name, entry.name, {
      ...this.state('confirmed', entry),
      level,
      rejectedInto: into,
      error: reason.slice(0, 2000),
    });
    this.#counts.objectsRejected += 1;
    this.#counts.objectsSent += 1;
    this.#counts.bytesSent += entry.bytes;
    return level;
  }
}

/** A container PUT with its metadata; anything but a 2xx is a refusal. */
export async function putContainer(requests: TargetRequests, name: string, meta: MetaMap): Promise<void> {
  const res = await requests.call('PUT', swiftPath(name), metaHeaders('Container', meta));
  if (!is2xx(res)) throw refusal(res, `PUT ${name}`);
}

export function metaHeaders(kind: 'Container' | 'Object', meta: MetaMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) out[`X-${kind}-Meta-${canonicalKey(key)}`] = value;
  return out;
}

/** The X-Delete-At a HEAD shows, s since the epoch, or null. */
const shownDeleteAt = (headers: IncomingHttpHeaders): number | null => {
  const value = header(headers, 'x-delete-at');
  return value === undefined || !/^\d+$/.test(value) ? null : Number(value);
};

const sameList = (a: string[] | undefined, b: string[]) => (a ?? []).join('\0') === b.join('\0');

/** The spec's metadata for rejected content; the reason fits Swift's 256-byte value limit. */
function rejectionMeta(original: string, at: string, reason: string): MetaMap {
  let text = reason.replace(/[\u0000-\u001f]+/g, ' ');
  while (Buffer.byteLength(text, 'utf8') > 256) text = text.slice(0, -1);
  return { rejectedcontentoriginalcontainer: encodeURIComponent(original), rejectedcontenttime: at, rejectedcontentreason: encodeURIComponent(text) };
}
