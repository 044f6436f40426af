/**
 * `edgecd pull`: recordings out of a CD (a central edgecd, or any Swift
 * cluster they were replicated to) as files for a prosecutor, with proof
 * that nothing changed.
 *
 * Per recording, a folder with the objects byte for byte (never transcoded:
 * signed video must stay verifiable), metadata.json (decoded), a
 * manifest.sha256 that `sha256sum -c` checks, custody.json (source, who
 * pulled, when, hashes), and track.geojson when a readable GNSS track exists.
 *
 * Every object is checked against the listing's md5 and, where the source
 * recorded one, its SHA-256 (edgecd's X-Edgecd-Sha256, or the custody
 * metadata a replicating station attached). Downloads go to `.part` files
 * and resume with Range after a cut; an object already there and matching
 * is not fetched again. An object that fails verification is reported and
 * left out; the pull goes on with the rest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { osUserName } from '../audit/os-user.ts';
import { AUDIT_HEAD_HEADER, checkSignedHead, keyIdOf, type SignedHead } from '../audit/station-key.ts';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pairKeyFiles } from '../bws/key-files.ts';
import { isRejectedContentName, parseEpoch, parseRecordingName } from '../bws/names.ts';
import { diskName } from '../lib/file-names.ts';
import { fsyncPath, writeFileDurable } from '../lib/durable.ts';
import { hashFile } from '../lib/digests.ts';
import { header, swiftPath, SwiftClient, TransportError } from '../swift/client.ts';
import { decodeMetaValue } from '../swift/metadata.ts';
import { FOLDER_DOCUMENTS, folderDocuments, type FolderInput, type FolderObject } from './folder.ts';
import { clipVideo, encryptedVerdict, type ClipVideo } from '../authenticity/video-custody.ts';
import { isVideoClip } from '../authenticity/video-ledger.ts';
import { recordedVerdict } from '../authenticity/video-metadata.ts';
import { verifyVideoFile } from '../media/verify-file.ts';
import { VERSION } from '../lib/version.ts';

export interface PullSource {
  authUrl: string;
  user: string;
  key: string;
  /** PEM: the only CA trusted (a station's pinned certificate). */
  ca?: string;
}

export interface PullSelection {
  recording?: string;
  /** The user's UUID (as in the recording's name) or the UserID metadata (badge number). */
  userId?: string;
  device?: string;
  /** Trigger time bounds, ms (inclusive). */
  since?: number;
  until?: number;
  all?: boolean;
}

export interface PullProgress {
  bytesDone: number;
  bytesTotal: number;
  objectsDone: number;
  objectsTotal: number;
  current?: string;
}

export interface PulledRecording {
  name: string;
  folder: string;
  objects: number;
  bytes: number;
  /** Objects fetched now; the rest were already there and verified. */
  downloaded: number;
  failures: { object: string; reason: string }[];
  /** Things a clerk should know that are not failures (a track that could not be converted). */
  notes: string[];
}

export interface PullReport {
  source: string;
  recordings: PulledRecording[];
  bytes: number;
  seconds: number;
  failed: number;
}

interface Listed {
  name: string;
  hash: string;
  bytes: number;
  content_type: string;
  last_modified: string;
}

const ATTEMPTS = 5;
/** An object whose bytes stop coming for this long is cut (and resumed), unless the caller says otherwise. */
const STALL_MS = 30_000;
/** Each object's download has a deadline: this, plus its size at this rate. */
const OBJECT_DEADLINE_MS = 5 * 60_000;
const MIN_BYTES_PER_SECOND = 50 * 1024;

export interface PullOptions {
  onProgress?: (p: PullProgress) => void;
  /** An object whose bytes stop coming for this long is cut, and resumed (default 30 s). */
  stallMs?: number;
  /** Verify each clip's signed video here too (custody.json then holds both verdicts, the source's and this one). */
  verifyVideo?: boolean;
  /** While a clip is verified: bytes read of its size. */
  onVerifyProgress?: (clip: string, bytesRead: number, size: number) => void;
}

export async function pull(source: PullSource, selection: PullSelection, to: string, options: PullOptions = {}): Promise<PullReport> {
  const resolved = { ...options, stallMs: options.stallMs ?? STALL_MS };
  const started = Date.now();
  const client = new SwiftClient({ authUrl: source.authUrl, user: source.user, key: source.key, ...(source.ca ? { ca: source.ca } : {}), sockets: 2 });
  try {
    await client.authenticate();
    const containers = await selectContainers(client, selection);
    for (const c of containers) {
      const why = unsafeName(c);
      if (why) throw new Error(`the source lists a container with ${why}: refused (a broken or hostile source)`);
    }
    // Sizes first, for the progress bar's total.
    const plan: { container: string; objects: Listed[] }[] = [];
    for (const container of containers) plan.push({ container, objects: await listAll<Listed>(client, swiftPath(container)) });
    const progress: PullProgress = {
      bytesDone: 0,
      bytesTotal: plan.reduce((n, p) => n + p.objects.reduce((m, o) => m + o.bytes, 0), 0),
      objectsDone: 0,
      objectsTotal: plan.reduce((n, p) => n + p.objects.length, 0),
    };
    const recordings: PulledRecording[] = [];
    for (const { container, objects } of plan) recordings.push(await pullRecording(client, source, container, objects, to, progress, resolved));
    return {
      source: source.authUrl,
      recordings,
      bytes: progress.bytesTotal,
      seconds: (Date.now() - started) / 1000,
      failed: recordings.reduce((n, r) => n + r.failures.length, 0),
    };
  } finally {
    client.close();
  }
}

/**
 * A whole listing, page by page. The source is not trusted to page
 * honestly: a page that does not move past its marker ends the pull with an
 * error instead of looping for ever, and entries must be named strings.
 */
async function listAll<T extends { name: string }>(client: SwiftClient, path: string): Promise<T[]> {
  const out: T[] = [];
  let marker = '';
  for (;;) {
    const { status, items } = await client.list<T>(`${path}?format=json&limit=1000${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
    if (status === 401 || status === 403) throw new Error(`the source refused to list ${path || 'the account'} (${status}): pulling needs a reader's credentials`);
    if (status === 404) throw new Error(`${path} not found on the source`);
    if (!Array.isArray(items) || items.some((i) => typeof i?.name !== 'string')) throw new Error(`listing ${path || 'the account'}: not a list of named entries`);
    const last = items.at(-1)?.name;
    if (last !== undefined && marker !== '' && last <= marker)
      throw new Error(`listing ${path || 'the account'}: the source's page does not move past ${JSON.stringify(marker)} (a broken or hostile source)`);
    out.push(...items);
    if (items.length < 1000) return out;
    marker = last!;
  }
}

/** Why a name from a listing may not become a file or a request, or undefined when it may. */
function unsafeName(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.split('/').some((part) => part === '.' || part === '..')) return `a "." or ".." path segment in ${JSON.stringify(name)}`;
  if (/[\u0000-\u001f]/.test(name)) return `a control character in ${JSON.stringify(name)}`;
  return undefined;
}

/** The recordings (and rejected content) the selection names, by listing the account. */
async function selectContainers(client: SwiftClient, s: PullSelection): Promise<string[]> {
  if (s.recording !== undefined) {
    const head = await client.request('HEAD', swiftPath(s.recording));
    if (head.status === 404) throw new Error(`recording ${s.recording} not found on the source`);
    if (head.status >= 300) throw new Error(`HEAD ${s.recording}: ${head.status}`);
    return [s.recording];
  }
  const all = (await listAll<{ name: string }>(client, '')).map((c) => c.name);
  const chosen: string[] = [];
  const byMetadata: string[] = [];
  for (const name of all) {
    const rec = parseRecordingName(name);
    if (!rec) {
      if (s.all && isRejectedContentName(name)) chosen.push(name);
      continue;
    }
    if (s.device !== undefined && rec.deviceSerial !== s.device) continue;
    if (s.since !== undefined && (rec.triggerOn ?? -Infinity) < s.since) continue;
    if (s.until !== undefined && (rec.triggerOn ?? Infinity) > s.until) continue;
    if (s.userId !== undefined && rec.userId !== s.userId) {
      byMetadata.push(name);
      continue;
    }
    chosen.push(name);
  }
  // A badge number rather than the UUID: the recording's UserID metadata says.
  if (s.userId !== undefined && chosen.length === 0) {
    for (const name of byMetadata) {
      const head = await client.request('HEAD', swiftPath(name));
      if (decodeMetaValue(header(head.headers, 'x-container-meta-userid') ?? '').trim() === s.userId) chosen.push(name);
    }
  }
  return chosen;
}

async function pullRecording(
  client: SwiftClient,
  source: PullSource,
  container: string,
  objects: Listed[],
  to: string,
  progress: PullProgress,
  options: PullOptions & { stallMs: number },
): Promise<PulledRecording> {
  const { stallMs, onProgress } = options;
  const folder = join(to, diskName(container));
  await mkdir(folder, { recursive: true });
  const head = await client.request('HEAD', swiftPath(container));
  const containerMeta = metaOf(head.headers, 'container');
  const result: PulledRecording = { name: container, folder, objects: objects.length, bytes: 0, downloaded: 0, failures: [], notes: [] };
  const entries: FolderObject[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    progress.current = `${container}/${o.name}`;
    const unsafe = unsafeName(o.name);
    const file = diskName(o.name);
    const refused = unsafe
      ? `the source lists it with ${unsafe}`
      : FOLDER_DOCUMENTS.has(file)
        ? `its name collides with the pull's own ${file}`
        : seen.has(o.name)
          ? 'the source lists it twice'
          : undefined;
    if (refused || !Number.isSafeInteger(o.bytes) || o.bytes < 0 || !/^[0-9a-f]{32}$/i.test(String(o.hash))) {
      result.failures.push({ object: o.name, reason: `${refused ?? 'the source lists it without a size and an md5'}; not pulled` });
      continue;
    }
    seen.add(o.name);
    try {
      const got = await pullObject(client, container, o, join(folder, file), stallMs, (n) => {
        progress.bytesDone += n;
        onProgress?.({ ...progress });
      });
      if (got.downloaded) result.downloaded += 1;
      result.bytes += o.bytes;
      entries.push({
        name: o.name,
        file,
        bytes: o.bytes,
        md5: o.hash,
        sha256: got.sha256,
        ...(got.sourceSha256 ? { sourceSha256: got.sourceSha256 } : {}),
        contentType: o.content_type,
        lastModified: o.last_modified,
        meta: got.meta,
      });
    } catch (err) {
      result.failures.push({ object: o.name, reason: (err as Error).message });
    }
    progress.objectsDone += 1;
    onProgress?.({ ...progress });
  }
  await writeFolderDocuments(folder, source, client, container, containerMeta, entries, result, options);
  // What sha256sum -c will check is there, whole: else the pull has failed, whatever happened.
  for (const e of entries) {
    const size = (await stat(join(folder, e.file)).catch(() => undefined))?.size;
    if (size !== e.bytes) result.failures.push({ object: e.name, reason: `${e.file} is ${size === undefined ? 'missing' : `${size} bytes, not ${e.bytes}`} after the pull` });
  }
  return result;
}

/**
 * One object into `path`, verified. Resumes a `.part` left by an earlier
 * attempt; skips a final file that already matches. Throws why it failed.
 */
async function pullObject(
  client: SwiftClient,
  container: string,
  o: Listed,
  path: string,
  stallMs: number,
  advance: (bytes: number) => void,
): Promise<{ sha256: string; sourceSha256?: string; meta: Record<string, string>; downloaded: boolean }> {
  const head = await client.request('HEAD', swiftPath(container, o.name));
  if (head.status !== 200) throw new Error(`HEAD answered ${head.status}`);
  const meta = metaOf(head.headers, 'object');
  // edgecd says it in a header; a replicated copy carries the station's custody metadata.
  const sourceSha256 = header(head.headers, 'x-edgecd-sha256') ?? header(head.headers, 'x-object-meta-edgecd-sha256');
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size === o.bytes) {
    const h = await hashFile(path);
    if (h.md5 === o.hash && (!sourceSha256 || h.sha256 === sourceSha256)) {
      advance(o.bytes);
      return { sha256: h.sha256, ...(sourceSha256 ? { sourceSha256 } : {}), meta, downloaded: false };
    }
  }
  // Hidden: no object's file name starts with a dot (diskName), so a temp file never takes one's place.
  const part = join(dirname(path), `.${basename(path)}.part`);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      const h = await download(client, container, o, part, stallMs, advance);
      if (h.md5 !== o.hash) {
        await rm(part, { force: true });
        throw new Verification(`md5 ${h.md5} does not match the source's listing (${o.hash}): the stored bytes differ from what was uploaded`);
      }
      if (sourceSha256 && h.sha256 !== sourceSha256) {
        await rm(part, { force: true });
        throw new Verification(`SHA-256 ${h.sha256} does not match the SHA-256 recorded on arrival (${sourceSha256})`);
      }
      await fsyncPath(part);
      await rename(part, path);
      return { sha256: h.sha256, ...(sourceSha256 ? { sourceSha256 } : {}), meta, downloaded: true };
    } catch (err) {
      if (err instanceof Verification) throw err;
      lastError = err as Error;
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
  throw new Error(`download failed after ${ATTEMPTS} attempts: ${lastError?.message}`);
}

class Verification extends Error {}

/**
 * Appends to `part` from where it stops (Range), or starts it afresh, and
 * returns the digests of the whole part: the bytes already there are hashed
 * from disk, the rest as they arrive (one pass over the data).
 */
async function download(
  client: SwiftClient,
  container: string,
  o: Listed,
  part: string,
  stallMs: number,
  advance: (bytes: number) => void,
): Promise<{ md5: string; sha256: string }> {
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (have > o.bytes) {
    await rm(part, { force: true });
    have = 0;
  }
  if (have === o.bytes && o.bytes > 0) return hashFile(part);
  const res = await client.download(swiftPath(container, o.name), have > 0 ? { Range: `bytes=${have}-` } : {});
  if (res.status === 200 && have > 0)
    have = 0; // the source ignored the Range: start over
  else if (res.status !== 200 && res.status !== 206) {
    res.body.resume();
    throw new TransportError(`GET answered ${res.status}`);
  }
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  if (have > 0) {
    for await (const chunk of createReadStream(part, { end: have - 1, highWaterMark: 1024 * 1024 })) {
      md5.update(chunk as Buffer);
      sha256.update(chunk as Buffer);
    }
  }
  // The listing's size is the most the source may send, and it must keep sending:
  // a stall or a crawl past the deadline cuts the download (it resumes next attempt).
  let got = have;
  let lastProgress = Date.now();
  const deadline = Date.now() + OBJECT_DEADLINE_MS + ((o.bytes - have) / MIN_BYTES_PER_SECOND) * 1000;
  const watchdog = setInterval(
    () => {
      const now = Date.now();
      if (now - lastProgress > stallMs) res.body.destroy(new TransportError(`no bytes for ${stallMs / 1000} s`));
      else if (now > deadline) res.body.destroy(new TransportError("too slow: past this object's deadline"));
    },
    Math.min(1000, stallMs / 4),
  );
  const hashed = new Transform({
    transform(chunk: Buffer, _e, done) {
      got += chunk.length;
      if (got > o.bytes) return done(new Verification(`the source sent more than the ${o.bytes} bytes it listed: refused`));
      lastProgress = Date.now();
      md5.update(chunk);
      sha256.update(chunk);
      advance(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(res.body, hashed, createWriteStream(part, { flags: have > 0 ? 'a' : 'w', mode: 0o640 }));
  } catch (err) {
    if (err instanceof Verification) await rm(part, { force: true });
    throw err;
  } finally {
    clearInterval(watchdog);
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** A recording's audit lines from an edgecd source, and the signed head that covers them, as checked. */
interface SourceCustody {
  lines: unknown[] | null;
  head: AuditHeadCheck | null;
}

/**
 * The recording's audit lines from an edgecd source (null from any other),
 * with the head the source signed over them: its signature must hold, and
 * it must cover every line (and match its own line, when that is one of
 * them). The head can later be checked against the anchors the source's
 * station sent its central (`edgecd audit verify --against`).
 */
async function custodyFromEdgecd(client: SwiftClient, container: string): Promise<SourceCustody> {
  const url = edgecdUrl(client, 'custody', container);
  if (!url) return { lines: null, head: null };
  let res;
  try {
    res = await client.download(url, { Accept: 'application/json' });
  } catch {
    return { lines: null, head: null };
  }
  const body = await readCapped(res.body, MAX_SOURCE_DOCUMENT);
  if (body === undefined) return { lines: null, head: { problem: 'the audit excerpt is larger than 64 MiB: not read' } };
  if (res.status !== 200) return { lines: null, head: null };
  let lines: unknown;
  try {
    lines = JSON.parse(body.toString('utf8'));
  } catch {
    return { lines: null, head: { problem: 'the audit excerpt is not JSON' } };
  }
  if (!Array.isArray(lines)) return { lines: null, head: { problem: 'the audit excerpt is not a list' } };
  const header = res.headers[AUDIT_HEAD_HEADER.toLowerCase()];
  return { lines, head: typeof header === 'string' ? checkHeadOver(header, lines) : { problem: 'the source sent no signed audit head (an edgecd from before they existed?)' } };
}

export type AuditHeadCheck = { head: SignedHead; checked: string[] } | { problem: string };

function checkHeadOver(header: string, lines: unknown[]): AuditHeadCheck {
  let head: SignedHead | string;
  try {
    head = checkSignedHead(JSON.parse(Buffer.from(header, 'base64url').toString('utf8')));
  } catch {
    head = 'not JSON';
  }
  if (typeof head === 'string') return { problem: `the source's signed audit head is not valid: ${head}` };
  const seqs = lines.map((l) => (l as { seq?: unknown }).seq);
  if (!seqs.every((s) => Number.isSafeInteger(s) && (s as number) <= head.seq))
    return { problem: `the source's signed audit head (line ${head.seq}) does not cover every line it sent` };
  const checked = [`Ed25519 signature (key ${keyIdOf(head.publicKey)})`, `covers all ${lines.length} lines (through line ${head.seq})`];
  const own = lines.find((l) => (l as { seq?: unknown }).seq === head.seq);
  if (own !== undefined) {
    if (createHash('sha256').update(JSON.stringify(own)).digest('hex') !== head.hash)
      return { problem: `line ${head.seq} of the audit excerpt is not the line the source's signed head names` };
    checked.push(`line ${head.seq} is the one the head names`);
  }
  return { head, checked };
}

/**
 * Where an edgecd source replicated the recording and how each copy was
 * confirmed (null from any other source).
 */
async function replicasFromEdgecd(client: SwiftClient, container: string): Promise<unknown[] | null> {
  const url = edgecdUrl(client, 'replicas', container);
  if (!url) return null;
  try {
    const { status, items } = await client.list<unknown>(url);
    return status === 200 ? items : null;
  } catch {
    return null;
  }
}

/**
 * Each clip's signed-video verdict: as the source recorded it (an edgecd's
 * /video, else the custody metadata a replicating station attached), and,
 * with --verify-video, as verified here from the pulled bytes.
 */
async function videoVerdicts(
  client: SwiftClient,
  container: string,
  folder: string,
  entries: FolderObject[],
  start: number | undefined,
  result: PulledRecording,
  options: PullOptions,
): Promise<FolderInput['video']> {
  const clips = entries.filter((e) => isVideoClip(e.name));
  if (clips.length === 0) return undefined;
  const atSource = (await videoFromEdgecd(client, container)) ?? videoFromMetadata(clips);
  if (!options.verifyVideo) return { atSource };
  const { keyOf } = pairKeyFiles(entries, start);
  const atPull: Record<string, ClipVideo> = {};
  for (const clip of clips) {
    const about = { checkedBy: `edgecd ${VERSION} pull --verify-video`, sha256: clip.sha256 };
    const verdict = keyOf.has(clip.name)
      ? encryptedVerdict()
      : await verifyVideoFile(join(folder, clip.file), { onProgress: (done, size) => options.onVerifyProgress?.(clip.name, done, size) });
    atPull[clip.name] = clipVideo(verdict, { ...about, checkedAt: new Date().toISOString() });
    const there = atSource[clip.name];
    if (verdict.verdict !== 'authentic')
      result.notes.push(
        `${clip.name}: signed video ${verdict.verdict}${verdict.firstInvalidFrame !== null ? ` from frame ${verdict.firstInvalidFrame}` : ''}${verdict.reason ? ` (${verdict.reason})` : ''}`,
      );
    if (there && there.verdict !== verdict.verdict) result.notes.push(`${clip.name}: the source recorded ${there.verdict}, this pull finds ${verdict.verdict}`);
  }
  return { atSource, atPull };
}

/** What an edgecd source recorded for the recording's clips (null from any other source). */
async function videoFromEdgecd(client: SwiftClient, container: string): Promise<Record<string, ClipVideo> | null> {
  const url = edgecdUrl(client, 'video', container);
  if (!url) return null;
  try {
    const res = await client.download(url, { Accept: 'application/json' });
    const body = await readCapped(res.body, MAX_SOURCE_DOCUMENT);
    if (res.status !== 200 || body === undefined) return null;
    const doc: unknown = JSON.parse(body.toString('utf8'));
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, ClipVideo>) : null;
  } catch {
    return null;
  }
}

/** From a Swift copy: the verdict the replicating station attached to each clip. */
function videoFromMetadata(clips: FolderObject[]): Record<string, ClipVideo> {
  const found: Record<string, ClipVideo> = {};
  for (const clip of clips) {
    const recorded = recordedVerdict(clip.meta);
    if (recorded)
      found[clip.name] = { verdict: recorded.verdict, firstInvalidFrame: recorded.firstInvalidFrame ?? null, ...(recorded.station ? { checkedBy: recorded.station } : {}) };
  }
  return found;
}

/** An edgecd source's per-recording document (custody, replicas, video), beside its Swift API; undefined before authentication. */
function edgecdUrl(client: SwiftClient, kind: 'custody' | 'replicas' | 'video', container: string): string | undefined {
  const storage = client.storageUrl;
  if (!storage) return undefined;
  const url = new URL(storage);
  const account = url.pathname.replace(/\/+$/, '').split('/').pop()!;
  return `${url.origin}/${kind}/${encodeURIComponent(account)}/${encodeURIComponent(container)}`;
}

/** The largest document (audit excerpt, verdicts) read from a source: it is not trusted to stop. */
const MAX_SOURCE_DOCUMENT = 64 * 1024 * 1024;

/** A response body, whole, or undefined (and the stream destroyed) past `max` bytes. */
async function readCapped(body: NodeJS.ReadableStream & { destroy(): void }, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if ((size += (chunk as Buffer).length) > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function metaOf(headers: Record<string, string | string[] | undefined>, kind: 'container' | 'object'): Record<string, string> {
  const prefix = `x-${kind}-meta-`;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith(prefix) && typeof value === 'string') out[name.slice(prefix.length)] = value;
  return out;
}

async function writeFolderDocuments(
  folder: string,
  source: PullSource,
  client: SwiftClient,
  container: string,
  containerMeta: Record<string, string>,
  entries: FolderObject[],
  result: PulledRecording,
  options: PullOptions,
): Promise<void> {
  const track = entries.find((e) => e.name.endsWith('_gpstrail.json'));
  const start = containerMeta.starttime === undefined ? undefined : parseEpoch(decodeMetaValue(containerMeta.starttime));
  const encrypted = track !== undefined && pairKeyFiles(entries, start).keyOf.has(track.name);
  // An edgecd source shows its audit trail for the recording to whoever may read it, under a signed head; plain Swift has none.
  const custody = await custodyFromEdgecd(client, container);
  if (custody.head && 'problem' in custody.head && custody.lines !== null) result.failures.push({ object: 'custody.json', reason: custody.head.problem });
  const docs = folderDocuments({
    container,
    containerMeta,
    objects: entries,
    failures: result.failures,
    source: { authUrl: source.authUrl, storageUrl: client.storageUrl, container },
    pulledBy: `${osUserName()} (source user ${source.user})`,
    auditExcerpt: custody.lines,
    auditHead: custody.head,
    replicas: await replicasFromEdgecd(client, container),
    trackText: track && !encrypted ? await readFile(join(folder, track.file), 'utf8') : undefined,
    video: await videoVerdicts(client, container, folder, entries, start, result, options),
  });
  result.notes.push(...docs.notes);
  for (const [file, text] of Object.entries(docs.files)) await writeFileDurable(join(folder, file), text, 0o640);
}
