/**
 * What edgecd says about one video clip's authenticity: the verdict of the
 * Axis signed-video check, in the words of the reference library where it has
 * them (OK, NOT OK, NOT SIGNED, OK WITH MISSING INFO / SIGNATURE PRESENT) and
 * with what a clerk needs to judge it: which frame failed first, per-GOP
 * results, who signed and whether Axis vouches for that key.
 *
 * Pure data: the verifier (signed-video/) produces it, the store, the audit
 * trail, the console and the exports carry it unchanged.
 */
export type Authenticity = 'authentic' | 'tampered' | 'unsigned' | 'incomplete' | 'unsupported' | 'encrypted';

/** The reference library's accumulated verdict at end of stream, for comparing with it. */
export type LibraryVerdict = 'OK' | 'NOT OK' | 'NOT SIGNED' | 'OK WITH MISSING INFO' | 'SIGNATURE PRESENT' | 'VERSION MISMATCH';

export type GopOutcome = 'ok' | 'tampered' | 'missing-info' | 'unsigned' | 'pending';

export interface GopResult {
  /** 0-based, in stream order. */
  index: number;
  /** 0-based index (count of primary picture slices) of the GOP's first frame. */
  firstFrame: number;
  frames: number;
  outcome: GopOutcome;
  /** When the container gives sample times: the GOP's first frame, in ms from the start of the clip. */
  startMs?: number;
}

export interface ProductInfo {
  hardwareId?: string;
  firmwareVersion?: string;
  serialNumber?: string;
  manufacturer?: string;
  address?: string;
}

export interface Signer {
  /** SHA-256 of the public key's DER SubjectPublicKeyInfo, lower-case hex. */
  publicKeyFingerprint: string;
  algorithm: 'ecdsa' | 'rsa' | 'unknown';
  productInfo?: ProductInfo;
}

/**
 * Whether the signing key is tied to a device: 'axis' when the stream carries an
 * Axis Edge Vault attestation whose certificate chain ends at an Axis root and
 * whose report signature covers this key; 'axis-failed' when it carries one that
 * does not verify; 'none' when the key is only the one in the stream.
 */
export type Attestation = { kind: 'axis'; chipId?: string; serialNumber?: string; certificateSubject?: string } | { kind: 'axis-failed'; reason: string } | { kind: 'none' };

export interface VideoVerdict {
  verdict: Authenticity;
  /** The reference library's word for the same result, when there is one. */
  libraryVerdict?: LibraryVerdict;
  /** 0-based count of primary picture slices of the first frame whose check failed; null when none failed. */
  firstInvalidFrame: number | null;
  /** Primary picture slices seen. */
  frames: number;
  gops: GopResult[];
  signer?: Signer;
  attestation: Attestation;
  format: {
    /** Absent when the file could not be read as H.264/H.265 (or is encrypted). */
    codec?: 'h264' | 'h265';
    container?: 'mp4' | 'mkv' | 'annexb';
    /** Which signed-video SEI layout the stream uses; null when none was found. */
    sei: 'current' | 'legacy' | 'onvif' | null;
    /** The signer's library version from the SEIs, e.g. "v2.0.3". */
    signingVersion?: string;
    level?: 'frame' | 'gop';
  };
  /** Signed-video SEIs seen. */
  seis: number;
  /** Why, in a sentence, for anything but authentic. */
  reason?: string;
}

/** The verdict of a clip nothing could be checked in (unreadable, encrypted, a checker that kept failing): why, and nothing else. */
export function uncheckedVerdict(verdict: 'unsupported' | 'encrypted', reason: string, codec?: 'h264' | 'h265'): VideoVerdict {
  return { verdict, firstInvalidFrame: null, frames: 0, gops: [], attestation: { kind: 'none' }, format: { ...(codec ? { codec } : {}), sei: null }, seis: 0, reason };
}
