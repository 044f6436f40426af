/**
 * A body-worn system, simulated from a connection file alone: it does what a
 * BWS does against a content destination, in the same order, and reports what
 * the CD answered. Field IT run it (`edgecd simulate`) to accept an appliance
 * before deployment; the tests use it to produce realistic days of evidence.
 *
 * It authenticates, reads and checks System/Capabilities.json (its Etag must
 * be the md5 of its bytes) and the categories it offers, publishes a System ID, registers users and
 * cameras, uploads recordings (clips, and with `extras` a GNSS track and
 * bookmarks), then marks each Complete. It honours 503 Retry-After, re-auths
 * on 401, and stops cleanly at the first 507.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

export interface SimulationOptions {
  authUrl: string;
  user: string;
  key: string;
  users: number;
  devices: number;
  recordings: number;
  clipsPerRecording: number;
  clipBytes: number;
  /** Real clips (e.g. signed MKVs) uploaded in turn instead of random bytes: recording r's clip c is file (r × clips + c) mod n. */
  clipFiles?: Buffer[];
  /** Also upload a GNSS track and bookmarks per recording. */
  extras: boolean;
  /** Recordings uploaded at once. */
  concurrency: number;
  /** Trigger time of the first recording; later ones follow 10 minutes apart. */
  firstTrigger: Date;
  categories?: { Id: string; Name: string }[];
  /** End-to-end encryption as a BWS does it when the connection file sets WantEncryption. */
  encryption?: { publicKey: KeyObject; publicKeyId: string };
  progress?: (line: string) => void;
  /** The connection file's HTTPSCertificate (PEM): the only certificates trusted, as a BWS does. */
  trustedCertificates?: string[];
  /** Name recordings as firmware before 10.11 did: `<UserID>_<BWCSerialNumber>_<YYYYMMDD>_<HHMMSS>`. */
  legacyNames?: boolean;
  /**
   * How key files are named: `spec` as the spec writes it (`<StartTime>_<RecordingID>.key`,
   * the track's stamped with the recording's start), `reference` as the Axis reference's
   * decrypt_file.sh expects (`<file>.key`); by default each key takes its content's base name.
   */
  keyNames?: 'base' | 'spec' | 'reference';
  /** Older firmware's clip StartLocation/StopLocation (removed in v1.6.12): sent on every other clip. */
  clipLocations?: boolean;
  /**
   * Like curl's --connect-to: requests for `from` (host:port) go to `to`,
   * still sent for, and checked against the certificate of, `from`. For a CD
   * reached through a port forward or NAT (a VM in a test, a box behind a router).
   */
  connectTo?: { from: string; to: string };
}

/**
 * A content object encrypted for the CD's key holder: AES-256-CBC with a fresh
 * key and IV, the key wrapped with RSA-OAEP under the public key. The key file
 * (JSON) carries the wrapped key, the IV (both base64) and the key id.
 */
export function encryptForKeyHolder(plain: Buffer, encryption: NonNullable<SimulationOptions['encryption']>): { cipher: Buffer; keyFile: Buffer } {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key, iv);
  const cipher = Buffer.concat([c.update(plain), c.final()]);
  const wrapped = publicEncrypt({ key: encryption.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, key);
  const keyFile = Buffer.from(
    JSON.stringify({
      EncryptedKey: wrapped.toString('base64'),
      ContentEncryptionIV: iv.toString('base64'),
      PublicKeyId: encryption.publicKeyId,
    }),
  );
  return { cipher, keyFile };
}

/** A connection file's part a BWS needs: where, who, which certificates, and the key to encrypt for. */
export interface ConnectionFileForBws {
  AuthenticationTokenURI: string[];
  BlobAPIUserName: string;
  BlobAPIKey: string;
  HTTPSCertificate?: string[];
  WantEncryption?: boolean;
  PublicKey?: string;
  PublicKeyId?: string;
}

/** The simulation options a connection file gives, as a BWS reads it: the first URI, its pinned certificates, and encryption when it wants it. */
export function connectionOptions(file: ConnectionFileForBws): Pick<SimulationOptions, 'authUrl' | 'user' | 'key' | 'trustedCertificates' | 'encryption'> {
  return {
    authUrl: file.AuthenticationTokenURI[0]!,
    user: file.BlobAPIUserName,
    key: file.BlobAPIKey,
    ...(file.HTTPSCertificate ? { trustedCertificates: file.HTTPSCertificate.map((c) => Buffer.from(c, 'base64').toString('utf8')) } : {}),
    ...(file.WantEncryption === true && file.PublicKey
      ? { encryption: { publicKey: createPublicKey(Buffer.from(file.PublicKey, 'base64').toString('utf8')), publicKeyId: file.PublicKeyId ?? '' } }
      : {}),
  };
}

export interface SimulationReport {
  systemId: string;
  users: string[];
  devices: string[];
  recordings: string[];
  uploadedBytes: number;
  seconds: number;
  mbPerSecond: number;
  /** HTTP status → how many answers had it. */
  statusCounts: Record<number, number>;
  /** The CD ran out of space (507): the simulation stopped there. */
  stoppedOnFullDisk: boolean;
}

class DiskFull extends Error {}

const compact = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

export async function simulate(o: SimulationOptions): Promise<SimulationReport> {
  const sockets = Math.max(4, o.concurrency * 2);
  const https = o.authUrl.startsWith('https:');
  // A BWS trusts exactly the certificates its connection file pins, nothing else.
  const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: sockets, ca: o.trustedCertificates ?? [] }) : new Agent({ keepAlive: true, maxSockets: sockets });
  const statusCounts: Record<number, number> = {};
  const count = (status: number) => (statusCounts[status] = (statusCounts[status] ?? 0) + 1);
  const auth = new URL(o.authUrl);
  let session: { token: string; storage: URL } | undefined;
  let uploadedBytes = 0;

  function send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const target = o.connectTo && url.host === o.connectTo.from ? new URL(`${url.protocol}//${o.connectTo.to}`) : null;
      const via = target
        ? {
            hostname: target.hostname,
            port: target.port,
            servername: isIP(url.hostname) ? undefined : url.hostname,
            checkServerIdentity: (_: string, cert: PeerCertificate) => checkServerIdentity(url.hostname, cert),
          }
        : {};
      const sent = { ...(body ? { ...headers, 'Content-Length': String(body.length) } : headers), ...(target ? { Host: url.host } : {}) };
      const req = (url.protocol === 'https:' ? httpsRequest : request)(url, { method, agent, headers: sent, ...via }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async function authenticate(): Promise<{ token: string; storage: URL }> {
    const res = await send(auth, 'GET', { 'X-Auth-User': o.user, 'Auth-Key': o.key, 'X-Auth-Key': o.key });
    count(res.status);
    if (res.status !== 200) throw new Error(`authentication refused: ${res.status}`);
    session = { token: String(res.headers['x-auth-token']), storage: new URL(String(res.headers['x-storage-url'])) };
    return session;
  }

  /** One storage request as a BWS makes it: 503 waits Retry-After, 401 re-auths once, 507 stops. */
  async function call(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: Buffer,
    accept: number[] = [],
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    for (let attempt = 0; ; attempt++) {
      const s = session ?? (await authenticate());
      const url = new URL(s.storage.href.replace(/\/$/, '') + path);
      const res = await send(url, method, { ...headers, 'X-Auth-Token': s.token }, body);
      count(res.status);
      if (res.status === 507) throw new DiskFull();
      if (res.status === 401 && attempt === 0) {
        session = undefined;
        continue;
      }
      if (res.status === 503 && attempt < 10) {
        const wait = Math.min(60, Number(res.headers['retry-after']) || 1);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      if (res.status >= 300 && !accept.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${res.body.toString('utf8').trim()}`);
      if (body) uploadedBytes += body.length;
      return res;
    }
  }

  const enc = encodeURIComponent;
  const started = performance.now();
  const report: SimulationReport = {
    systemId: randomUUID(),
    users: [],
    devices: [],
    recordings: [],
    uploadedBytes: 0,
    seconds: 0,
    mbPerSecond: 0,
    statusCounts,
    stoppedOnFullDisk: false,
  };
  try {
    await authenticate();
    const caps = await call('GET', '/System/Capabilities.json');
    if (createHash('md5').update(caps.body).digest('hex') !== caps.headers.etag) throw new Error('System/Capabilities.json: object corrupt (Etag is not the md5 of the body)');
    const capabilities = JSON.parse(caps.body.toString('utf8')) as Record<string, Record<string, boolean>>;
    const declared = (name: string) => Object.values(capabilities).some((group) => group[name] === true);
    o.progress?.(
      `capabilities: ${Object.values(capabilities)
        .flatMap((g) => Object.keys(g).filter((k) => g[k]))
        .join(', ')}`,
    );

    let categories = o.categories ?? [];
    if (declared('ReadCategories') && !o.categories) {
      // A CD without categories answers 404: the capability is not fulfilled, and a BWS keeps its built-in ones.
      const res = await call('GET', '/System/Categories.json', {}, undefined, [404]);
      if (res.status === 200) {
        if (createHash('md5').update(res.body).digest('hex') !== res.headers.etag) throw new Error('System/Categories.json: object corrupt (Etag is not the md5 of the body)');
        categories = JSON.parse(res.body.toString('utf8')) as { Id: string; Name: string }[];
      }
    }
    if (declared('StoreReadSystemID')) {
      await call('PUT', '/System');
      await call('PUT', `/System/${report.systemId}`, { 'X-Object-Meta-Connectionid': randomUUID(), 'X-Object-Meta-Systemname': enc('Simulated BWS') }, Buffer.alloc(0));
      await call('HEAD', `/System/${report.systemId}`);
    }
    await call('PUT', '/Users');
    await call('PUT', '/Devices');
    for (let i = 0; i < o.users; i++) {
      const id = randomUUID();
      const meta: Record<string, string> = { 'X-Object-Meta-Active': 'True', 'X-Object-Meta-Name': enc(`Officer ${i + 1} Åström`) };
      // UserIDs are unique per CD: this run's carry its System ID, so runs can repeat.
      if (declared('StoreUserIDKey')) meta['X-Object-Meta-Userid'] = `U${String(i + 1).padStart(4, '0')}-${report.systemId.slice(0, 8)}`;
      await call('PUT', `/Users/${id}`, meta, Buffer.alloc(0));
      report.users.push(id);
    }
    for (let i = 0; i < o.devices; i++) {
      const serial = `B8A44F${String(i + 1).padStart(6, '0')}`;
      await call('PUT', `/Devices/${serial}`, { 'X-Object-Meta-Active': 'True', 'X-Object-Meta-Name': enc(`Camera ${i + 1}`), 'X-Object-Meta-Model': 'W110' }, Buffer.alloc(0));
      report.devices.push(serial);
    }
    o.progress?.(`registered ${o.users} users and ${o.devices} cameras`);

    const uploadRecording = async (r: number) => {
      const user = report.users[r % report.users.length]!;
      const serial = report.devices[r % report.devices.length]!;
      const trigger = new Date(o.firstTrigger.getTime() + r * 600_000);
      const name = o.legacyNames ? `${user}_${serial}_${compact(trigger).slice(0, 8)}_${compact(trigger).slice(9, 15)}` : `${user}_${serial}_${compact(trigger)}`;
      const recordingStart = new Date(trigger.getTime() - 30_000);
      /** The key object's name for a content object, in the chosen naming. */
      const keyName = (object: string, start: Date) =>
        o.keyNames === 'reference' ? `${object}.key` : o.keyNames === 'spec' ? `${compact(start)}_${rid}.key` : `${object.replace(/\.[^.]+$/, '')}.key`;
      const rid = String(1000 + r);
      await call('PUT', `/${name}`, {
        'X-Container-Meta-Containername': name,
        'X-Container-Meta-Userid': user,
        'X-Container-Meta-Bwcserialnumber': serial,
        'X-Container-Meta-Scuserialnumber': 'SCU0001',
        'X-Container-Meta-Firmwareversion': '11.5.1',
        'X-Container-Meta-Triggeron': 'Button',
        'X-Container-Meta-Triggerontime': epoch(trigger),
        'X-Container-Meta-Triggerontimeiso': trigger.toISOString(),
        'X-Container-Meta-Timezone': enc('Europe/Stockholm'),
        'X-Container-Meta-Bwcmodel': 'W110',
        'X-Container-Meta-Status': 'Transferring',
        'X-Container-Meta-Starttime': epoch(recordingStart),
        'X-Container-Meta-Triggeronlocation': '+55.718409+013.221184+8+' + epoch(trigger),
      });
      /** Uploads content, first its key file when encrypting (as a BWS sends them). */
      const content = async (objectName: string, start: Date, headers: Record<string, string>, plain: Buffer) => {
        let body = plain;
        if (o.encryption) {
          const { cipher, keyFile } = encryptForKeyHolder(plain, o.encryption);
          await call(
            'PUT',
            `/${name}/${keyName(objectName, start)}`,
            { 'Content-Type': 'application/json', 'X-Object-Meta-Starttime': epoch(start), 'X-Object-Meta-Filetype': 'key' },
            keyFile,
          );
          body = cipher;
        }
        await call('PUT', `/${name}/${objectName}`, headers, body);
      };
      for (let c = 0; c < o.clipsPerRecording; c++) {
        const start = new Date(trigger.getTime() + c * 60_000);
        const stop = new Date(start.getTime() + 59_000);
        await content(
          `${compact(start)}_${rid}.mkv`,
          start,
          {
            'Content-Type': 'video/x-matroska',
            'X-Object-Meta-Starttime': epoch(start),
            'X-Object-Meta-Starttimeiso': start.toISOString(),
            'X-Object-Meta-Stoptime': epoch(stop),
            'X-Object-Meta-Stoptimeiso': stop.toISOString(),
            'X-Object-Meta-Containertype': 'mkv',
            ...(o.clipLocations && c % 2 === 0
              ? { 'X-Object-Meta-Startlocation': '+55.718409+013.221184+8+' + epoch(start), 'X-Object-Meta-Stoplocation': '+55.718702+013.220701+8+' + epoch(stop) }
              : {}),
          },
          o.clipFiles?.length ? o.clipFiles[(r * o.clipsPerRecording + c) % o.clipFiles.length]! : randomBytes(o.clipBytes),
        );
      }
      if (o.extras) {
        if (declared('StoreGNSSTrackRecording')) {
          const points = Array.from({ length: 5 }, (_, i) => ({
            LocationWKT: `POINT(${(13.2211 + i * 0.0003).toFixed(6)} ${(55.7184 + i * 0.0002).toFixed(6)})`,
            SecondsFromStart: i * 10,
            Timestamp: new Date(trigger.getTime() + i * 10_000).toISOString().replace('.000', ''),
          }));
          const d = compact(trigger);
          const track = `${d.slice(0, 8)}_${d.slice(9, 15)}_${rid}_${serial}_gpstrail`;
          // A track's key is stamped with the recording's start (the spec).
          await content(
            `${track}.json`,
            recordingStart,
            { 'Content-Type': 'application/json', 'X-Object-Meta-Filetype': 'json' },
            Buffer.from(JSON.stringify({ CoordinateEntries: points })),
          );
        }
        if (declared('StoreBookmarks')) {
          const category = categories[r % Math.max(1, categories.length)];
          // Where the officer set it (v1.6.11): near the track's third point.
          const meta: Record<string, string> = {
            'X-Object-Meta-Starttime': trigger.toISOString().replace('.000', ''),
            'X-Object-Meta-Tags': enc('TriggerOn:Button;Shift:Night'),
            'X-Object-Meta-Location': `+55.718800+013.221800+6+${epoch(new Date(trigger.getTime() + 20_000))}`,
          };
          if (category) {
            meta['X-Object-Meta-Categoryid'] = enc(category.Id);
            meta['X-Object-Meta-Categoryname'] = enc(category.Name);
          }
          await call('PUT', `/${name}/bookmark_${compact(trigger)}_${r}`, meta, Buffer.from(`Note for recording ${r}: suspect left on foot`, 'utf8'));
        }
      }
      const stopTime = epoch(new Date(trigger.getTime() + o.clipsPerRecording * 60_000));
      await call('POST', `/${name}`, { 'X-Container-Meta-Stoptime': stopTime, 'X-Container-Meta-Triggeroff': 'Button', 'X-Container-Meta-Status': 'Complete' });
      report.recordings.push(name);
      o.progress?.(`recording ${report.recordings.length}/${o.recordings} complete`);
    };

    let next = 0;
    let full = false;
    await Promise.all(
      Array.from({ length: Math.max(1, o.concurrency) }, async () => {
        while (!full && next < o.recordings) {
          await uploadRecording(next++).catch((err: unknown) => {
            if (err instanceof DiskFull) full = true;
            else throw err;
          });
        }
      }),
    );
    if (full) throw new DiskFull();
  } catch (err) {
    if (!(err instanceof DiskFull)) throw err;
    report.stoppedOnFullDisk = true;
    o.progress?.('the content destination is full (507): stopped');
  } finally {
    agent.destroy();
  }
  report.uploadedBytes = uploadedBytes;
  report.seconds = (performance.now() - started) / 1000;
  report.mbPerSecond = uploadedBytes / 1e6 / report.seconds;
  return report;
}
