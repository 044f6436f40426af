/**
 * One Axis signed-video SEI, taken apart: reserved-byte flags (current vs
 * legacy layout, golden, hashed with or without emulation prevention), the
 * TLV payload without emulation-prevention bytes, and the "document" — the
 * bytes from the NAL header up to the signature tag that the signer hashed.
 *
 * Follows remove_epb_from_sei_payload() (sv_common.c) and its legacy twin so
 * the document hash matches what the signer computed. The result holds
 * copies only: the caller's NAL buffer may be reused after the call.
 */
import { createHash } from 'node:crypto';
import { type NalInfo, readWithoutEmulationPrevention } from './nal-unit.ts';
import { findTagOffset, TAG } from './tlv.ts';

/** Refuse to keep SEIs larger than this: the format's TLV lengths cannot legitimately reach it. */
export const MAX_SEI_BYTES = 1 << 20;

const UUID_LENGTH = 16;

export interface SignedVideoSei {
  reservedByte: number;
  /** Reserved byte bits 0x30 clear (and not golden): the linked-hash/GOP-hash era layout. */
  legacyLayout: boolean;
  golden: boolean;
  /** Has a signature tag; unsigned SEIs occur when one signature covers several GOPs. */
  signed: boolean;
  /** TLV data after the reserved byte, emulation prevention removed (a copy). */
  tlv: Uint8Array;
  /** SHA-256 (or the stream's hash) of the document part, computed with `hashAlgorithm`. */
  documentHash: Uint8Array;
  /** The document bytes themselves, kept for signature verification (bounded by MAX_SEI_BYTES). */
  document: Uint8Array;
}

export class SeiFormatError extends Error {
  override name = 'SeiFormatError';
}

/**
 * Takes apart a unit that parseNalUnit() found to be a signed-video SEI.
 * Throws SeiFormatError when the envelope is inconsistent (truncated payload,
 * oversized unit).
 */
export function parseSignedVideoSei(nal: Uint8Array, info: NalInfo, hashAlgorithm = 'sha256'): SignedVideoSei {
  const sei = info.sei;
  if (sei?.uuidType !== 'signed-video' || !sei.valid) throw new SeiFormatError('not a well-formed signed-video SEI');
  if (info.hashableLength > MAX_SEI_BYTES) throw new SeiFormatError(`signed-video SEI of ${info.hashableLength} bytes is too large`);
  const raw = nal.subarray(0, info.hashableLength);
  const hasEpb = sei.emulationPreventionBytes > 0;
  const tlvStartRaw = sei.payloadOffset + UUID_LENGTH + 1;
  const tlvSize = sei.payloadSize - UUID_LENGTH - 1;
  const reservedByte = raw[sei.payloadOffset + UUID_LENGTH] ?? 0;
  const withEpb = (reservedByte & 0x80) !== 0;
  const golden = (reservedByte & 0x40) !== 0;
  const legacyLayout = (reservedByte & 0x30) === 0 && !golden;

  // Everything from the header to the stop byte, emulation prevention removed.
  const cleanSize = sei.payloadOffset + sei.payloadSize + 1;
  const clean = hasEpb ? readWithoutEmulationPrevention(raw, cleanSize).out : raw.slice(0, Math.min(cleanSize, raw.length));
  const tlvStartClean = sei.payloadOffset + UUID_LENGTH + 1;
  const tlv = clean.slice(tlvStartClean, tlvStartClean + tlvSize);
  if (tlv.length !== tlvSize) throw new SeiFormatError('signed-video SEI payload truncated');

  // The document ends at the signature tag. The signer hashed either the bytes as
  // sent (with_epb) or the bytes before emulation prevention was applied.
  let document: Uint8Array;
  let signed: boolean;
  if (hasEpb && !withEpb) {
    const sig = findTagOffset(clean, tlvStartClean, tlvSize, TAG.signature, false);
    signed = sig >= 0;
    document = signed ? clean.slice(0, sig) : clean.slice();
  } else {
    const sig = raw.length > tlvSize ? findTagOffset(raw, tlvStartRaw, tlvSize, TAG.signature, hasEpb || (legacyLayout && withEpb)) : -1;
    signed = sig >= 0;
    document = signed ? raw.slice(0, sig) : raw.slice();
  }
  const documentHash = new Uint8Array(createHash(hashAlgorithm).update(document).digest());
  return { reservedByte, legacyLayout, golden, signed, tlv, documentHash, document };
}
