/**
 * SignedVideoVerifier: feed it the NAL units of one H.264/H.265 stream in
 * order, get the Axis signed-video verdict at the end, in the terms of the
 * reference C library (signed-video-framework v2.3.8) mapped onto
 * VideoVerdict.
 *
 * It hashes each picture unit as it arrives (node:crypto, no copy of picture
 * data), keeps only hashes of units still waiting for their SEI, and hands
 * SEIs to the engine of their layout: current.ts (≥ v2.0) or legacy.ts
 * (linked-hash/GOP-hash era). ONVIF Media Signing SEIs are recognised and
 * reported as unsupported. Everything an attacker controls is capped; a cap
 * being hit turns an otherwise authentic verdict into 'incomplete'.
 *
 * Hostile input never makes add()/finish() throw: bad SEIs, keys and
 * certificates become reasons in the verdict.
 */
import { X509Certificate } from 'node:crypto';
import type { Attestation, Authenticity, GopOutcome, LibraryVerdict, VideoVerdict } from '../verdict.ts';
import { verifyAxisAttestation } from './attestation.ts';
import { CurrentLayoutEngine } from './current.ts';
import { decodeDocument } from './document.ts';
import type { PendingSei, ValidationEngine } from './engine.ts';
import { accumulate, type PictureItem, type ValidationReport } from './gop.ts';
import { chainedHash, HASH_SIZE, hashNameFromOid, sha256 } from './hashing.ts';
import { LegacyLayoutEngine } from './legacy.ts';
import { type Codec, parseNalUnit } from './nal-unit.ts';
import { parseSignedVideoSei, SeiFormatError } from './sei.ts';
import { describeKey, parsePublicKey, type StreamPublicKey, verifyDigest, verifyMessage } from './signature.ts';
import type { AxisVendorInfo, DecodedProductInfo } from './tlv.ts';

/**
 * Units waiting for an SEI. The library's hash list holds 300 units per GOP;
 * this allows long GOPs and a few lost SEIs, at ~100 bytes per unit.
 */
const MAX_PENDING_ITEMS = 20_000;
/** Reports kept in the verdict (one per GOP); later ones are folded into the verdict only. */
const MAX_REPORTS = 100_000;
/** The library's own version: streams signed by a newer minor version are "VERSION MISMATCH". */
const LIBRARY_VERSION: [number, number] = [2, 3];

export class SignedVideoVerifier {
  private readonly codec: Codec;
  private seq = -1;
  private frameCounter = -1;
  private engine: ValidationEngine | undefined;
  private layout: 'current' | 'legacy' | undefined;
  /** Units seen before the first signed-video SEI (capped at MAX_PENDING_ITEMS). */
  private preItems: PictureItem[] = [];
  private reference: Uint8Array = new Uint8Array(HASH_SIZE);
  private seenGopStart = false;
  private reports: ValidationReport[] = [];
  private droppedReports = 0;
  private accumulated: LibraryVerdict = 'NOT SIGNED';
  private signedVideoSeis = 0;
  private onvifSeis = 0;
  private publicKey: StreamPublicKey | undefined;
  /** The key as carried (PEM bytes), to recognise it cheaply in later SEIs. */
  private publicKeyBytes: Uint8Array | undefined;
  private publicKeyChanged = false;
  private productInfo: DecodedProductInfo | undefined;
  private signingVersion: string | undefined;
  private versionMismatch = false;
  private level: 'frame' | 'gop' | undefined;
  private axis: AxisVendorInfo | undefined;
  private unsupportedReason: string | undefined;
  private overflowed = false;
  private notes = new Set<string>();

  constructor(codec: 'h264' | 'h265') {
    this.codec = codec;
  }

  /** One NAL unit: header + payload, emulation-prevention bytes kept, no start code/length prefix. */
  add(nal: Uint8Array, info?: { timeMs?: number }): void {
    this.seq++;
    if (nal.length === 0) return;
    const unit = parseNalUnit(this.codec, nal);
    if (unit.primarySlice) this.frameCounter++;
    if ((unit.kind === 'I' || unit.kind === 'P') && unit.headerValid) {
      this.addPicture(nal, unit.firstInGop, unit.primarySlice, unit.hashableLength, info?.timeMs);
    } else if (unit.kind === 'sei' && unit.sei) {
      if (unit.sei.uuidType === 'onvif') this.onvifSeis++;
      if (unit.sei.uuidType !== 'signed-video') return;
      this.signedVideoSeis++;
      let sei: ReturnType<typeof parseSignedVideoSei>;
      try {
        sei = parseSignedVideoSei(nal, unit);
      } catch (err) {
        if (!(err instanceof SeiFormatError)) throw err;
        this.notes.add(`a damaged signed-video SEI was ignored (${err.message})`);
        return;
      }
      this.addSignedVideoSei({ seq: this.seq, frame: Math.max(this.frameCounter, 0), sei, doc: decodeDocument(sei.tlv, sei.legacyLayout) });
    }
  }

  private addPicture(nal: Uint8Array, firstInGop: boolean, primarySlice: boolean, length: number, timeMs: number | undefined): void {
    const unitHash = sha256(nal.subarray(0, length));
    // frame is -1 for slices before the first primary slice; sv_validate then gives no frame index either.
    const item: PictureItem = { seq: this.seq, frame: this.frameCounter, primarySlice, firstInGop, hash: unitHash };
    if (timeMs !== undefined) item.timeMs = timeMs;
    if (firstInGop) {
      if (this.seenGopStart) item.linkedHash = chainedHash(this.reference, unitHash);
      this.reference = unitHash;
      this.seenGopStart = true;
    } else {
      // Before the first I picture the reference is all zeros, as in the library.
      item.hash = chainedHash(this.reference, unitHash);
    }
    if (this.engine) {
      this.record(this.engine.addPicture(item));
      // Trimmed in bulk (to the cap, once a quarter over it) so trimming stays O(1) per unit.
      const excess = this.engine.pendingItems().length - MAX_PENDING_ITEMS;
      if (excess > MAX_PENDING_ITEMS / 4) {
        this.engine.dropOldest(excess);
        this.overflowed = true;
      }
    } else {
      // Kept until the layout is known; what the first SEI does not cover counts as NOT OK, as in the library.
      this.preItems.push(item);
      if (this.preItems.length > MAX_PENDING_ITEMS * 1.25) this.preItems.splice(0, this.preItems.length - MAX_PENDING_ITEMS);
    }
  }

  private addSignedVideoSei(pending: PendingSei): void {
    const { doc, sei } = pending;
    if (doc.general && !this.signingVersion) {
      this.signingVersion = doc.general.signingVersion;
      const [major, minor] = doc.general.signingVersionParts;
      this.versionMismatch = major > LIBRARY_VERSION[0] || (major === LIBRARY_VERSION[0] && minor > LIBRARY_VERSION[1]);
    }
    if (doc.productInfo) this.productInfo = doc.productInfo;
    if (doc.hashList && doc.hashList.length > 0) this.level = 'frame';
    else if (doc.general && !this.level) this.level = 'gop';
    if (doc.hashOid && hashNameFromOid(doc.hashOid) !== 'sha256') {
      this.unsupportedReason = `the stream is hashed with an algorithm other than SHA-256 (OID ${Buffer.from(doc.hashOid).toString('hex')})`;
    }
    if (doc.axis && !this.axis) {
      this.axis = doc.axis;
      if (!this.publicKey && !doc.publicKeyPem) this.publicKey = keyFromCertificateChain(doc.axis.certificateChain);
    }
    // Only a signed SEI may introduce the key (the library's rule: unsigned SEIs are not trusted yet).
    if (doc.publicKeyPem && sei.signed && !this.isEstablishedKey(doc.publicKeyPem)) {
      const key = parsePublicKey(doc.publicKeyPem);
      if (!key) this.notes.add('a public key in the stream could not be read');
      else if (!this.publicKey) {
        this.publicKey = key;
        this.publicKeyBytes = doc.publicKeyPem;
      } else if (!Buffer.from(key.spki).equals(Buffer.from(this.publicKey.spki))) this.publicKeyChanged = true;
    }
    if (!this.engine) {
      this.layout = sei.legacyLayout ? 'legacy' : 'current';
      this.engine =
        this.layout === 'legacy'
          ? new LegacyLayoutEngine({ document: (s) => this.checkDocument(s), digest: (s, d) => this.checkDigest(s, d) })
          : new CurrentLayoutEngine((s) => this.checkDocument(s));
      for (const item of this.preItems) this.record(this.engine.addPicture(item));
      this.preItems = [];
    }
    this.record(this.engine.addSei(pending));
  }

  /** Whether the SEI carries the key bytes already established (parsing a key per SEI is costly). */
  private isEstablishedKey(bytes: Uint8Array): boolean {
    return this.publicKeyBytes !== undefined && Buffer.from(bytes).equals(Buffer.from(this.publicKeyBytes));
  }

  /** The key an SEI is checked with: its own, or the one the stream established. */
  private keyFor(pending: PendingSei): StreamPublicKey | undefined {
    if (pending.doc.publicKeyPem && !this.isEstablishedKey(pending.doc.publicKeyPem)) {
      const own = parsePublicKey(pending.doc.publicKeyPem);
      // A key different from the first one fails the GOP, as the library's public_key_has_changed does.
      if (own && this.publicKey && !Buffer.from(own.spki).equals(Buffer.from(this.publicKey.spki))) return undefined;
      return own ?? this.publicKey;
    }
    return this.publicKey;
  }

  private checkDocument(pending: PendingSei): boolean | undefined {
    const signature = pending.doc.signature?.signature;
    if (!this.publicKey) return undefined;
    const key = this.keyFor(pending);
    if (!key || !signature) return false;
    return verifyMessage(key, 'sha256', pending.sei.document, signature);
  }

  private checkDigest(pending: PendingSei, digest: Uint8Array): boolean | undefined {
    const signature = pending.doc.signature?.signature;
    if (!this.publicKey) return undefined;
    const key = this.keyFor(pending);
    if (!key || !signature) return false;
    return verifyDigest(key, digest, signature);
  }

  private record(reports: ValidationReport[]): void {
    for (const report of reports) {
      this.accumulated = accumulate(this.accumulated, report.result);
      if (this.reports.length < MAX_REPORTS) this.reports.push(report);
      else this.droppedReports++;
    }
  }

  /** End of stream: the verdict (format.container is left for the caller). */
  finish(): VideoVerdict {
    const reports = this.reports;
    let library: LibraryVerdict | undefined = this.accumulated;
    if (this.signedVideoSeis > 0 && reports.length === 0 && this.droppedReports === 0) library = 'SIGNATURE PRESENT';
    if (this.signedVideoSeis > 0 && this.versionMismatch && reports.length > 0) library = 'VERSION MISMATCH';
    const reasons: string[] = [];
    let verdict: Authenticity;
    let sei: VideoVerdict['format']['sei'] = this.layout ?? null;
    if (this.signedVideoSeis === 0 && this.onvifSeis > 0) {
      verdict = 'unsupported';
      library = undefined;
      sei = 'onvif';
      reasons.push('the stream is signed with ONVIF Media Signing, which this verifier does not check yet');
    } else if (this.unsupportedReason) {
      verdict = 'unsupported';
      reasons.push(this.unsupportedReason);
    } else {
      verdict = mapVerdict(library);
      // The reason of the first report that made the verdict what it is.
      const firstBad = reports.find((r) => r.result === library && r.reason) ?? reports.find((r) => r.result !== 'OK' && r.reason);
      if (library === 'NOT SIGNED') reasons.push('the stream carries no signed-video SEIs');
      else if (library === 'VERSION MISMATCH') reasons.push(`the stream was signed by signed-video ${this.signingVersion}, newer than the 2.3 this verifier follows`);
      else if (firstBad?.reason) reasons.push(firstBad.reason);
      else if (library === 'SIGNATURE PRESENT') reasons.push('signed-video SEIs are present but no GOP could be validated');
    }
    if (this.publicKeyChanged) reasons.push('the public key changed during the stream');
    if (this.engine?.capped()) {
      reasons.push(`many signed-video SEIs waited for their video; the oldest were dropped`);
      if (verdict === 'authentic') verdict = 'incomplete';
    }
    if (this.overflowed) {
      reasons.push(`more than ${MAX_PENDING_ITEMS} frames waited for a signature; the oldest were not verified`);
      if (verdict === 'authentic') verdict = 'incomplete';
    }
    const pending = this.engine?.pendingItems().filter((i) => i.primarySlice).length ?? 0;
    if (verdict !== 'unsigned' && verdict !== 'unsupported' && pending > 0) reasons.push(`the last ${pending} frames are not covered by a signature yet`);
    for (const note of this.notes) reasons.push(note);

    // sv_validate's first_failure: the first report NOT OK or with missing units, at its first bad unit.
    const badReport = reports.find((r) => (r.result === 'NOT OK' || r.result === 'OK WITH MISSING INFO') && r.firstBadFrame !== undefined);
    const out: VideoVerdict = {
      verdict,
      firstInvalidFrame: badReport?.firstBadFrame !== undefined && badReport.firstBadFrame >= 0 ? badReport.firstBadFrame : null,
      frames: this.frameCounter + 1,
      gops: reports.map((r, index) => {
        const gop: VideoVerdict['gops'][number] = { index, firstFrame: Math.max(r.firstFrame, 0), frames: r.frames, outcome: outcomeOf(r.result) };
        if (r.startMs !== undefined) gop.startMs = r.startMs;
        return gop;
      }),
      attestation: this.attestation(),
      format: { codec: this.codec, sei },
      seis: this.signedVideoSeis + this.onvifSeis,
    };
    if (library) out.libraryVerdict = library;
    if (this.signingVersion) out.format.signingVersion = this.signingVersion;
    if (this.level) out.format.level = this.level;
    if (this.publicKey) {
      out.signer = { publicKeyFingerprint: this.publicKey.fingerprint, algorithm: this.publicKey.algorithm };
      if (this.productInfo) out.signer.productInfo = productInfoOf(this.productInfo);
    }
    if (verdict !== 'authentic' && reasons.length > 0) out.reason = `${reasons.join('; ')}.`;
    return out;
  }

  private attestation(): Attestation {
    if (!this.axis) return { kind: 'none' };
    return verifyAxisAttestation(this.axis, this.publicKey, this.productInfo);
  }
}

function keyFromCertificateChain(chain: string): StreamPublicKey | undefined {
  const pem = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (!pem) return undefined;
  try {
    return describeKey(new X509Certificate(pem).publicKey);
  } catch {
    return undefined;
  }
}

function mapVerdict(library: LibraryVerdict | undefined): Authenticity {
  switch (library) {
    case 'OK':
      return 'authentic';
    case 'NOT OK':
      return 'tampered';
    case 'NOT SIGNED':
      return 'unsigned';
    case 'OK WITH MISSING INFO':
    case 'SIGNATURE PRESENT':
      return 'incomplete';
    default:
      return 'unsupported';
  }
}

function outcomeOf(result: LibraryVerdict): GopOutcome {
  switch (result) {
    case 'OK':
      return 'ok';
    case 'NOT OK':
      return 'tampered';
    case 'OK WITH MISSING INFO':
      return 'missing-info';
    case 'NOT SIGNED':
      return 'unsigned';
    default:
      return 'pending';
  }
}

/** The library prints "N/A" for empty product-info strings; we leave them out. */
function productInfoOf(info: DecodedProductInfo): NonNullable<NonNullable<VideoVerdict['signer']>['productInfo']> {
  const out: NonNullable<NonNullable<VideoVerdict['signer']>['productInfo']> = {};
  if (info.hardwareId) out.hardwareId = info.hardwareId;
  if (info.firmwareVersion) out.firmwareVersion = info.firmwareVersion;
  if (info.serialNumber) out.serialNumber = info.serialNumber;
  if (info.manufacturer) out.manufacturer = info.manufacturer;
  if (info.address) out.address = info.address;
  return out;
}
