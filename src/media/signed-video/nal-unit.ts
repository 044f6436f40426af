/**
 * What one H.264/H.265 NAL unit is, for signed-video purposes: its kind
 * (picture I/P, SEI, parameter set, …), whether it starts a picture (primary
 * slice) or a GOP, and — for user-data-unregistered SEIs — where the UUID,
 * the reserved byte and the TLV payload are.
 *
 * Mirrors parse_bu_info() and parse_h26x_nalu_header() of Axis's
 * signed-video-framework (sv_common.c, sv_codec_h26x.c), because the hashes
 * the signer made cover exactly the bytes that code selects. Every read is
 * bounds-checked: a truncated or garbage unit comes out as kind 'undefined'
 * or an SEI with `sei.valid === false`, never as an exception.
 */

export type Codec = 'h264' | 'h265';

export type NalKind = 'I' | 'P' | 'sei' | 'parameter-set' | 'aud' | 'other' | 'undefined';

export type SeiUuidType = 'signed-video' | 'onvif' | 'other';

/** "Signed Video...0": the UUID of Axis signed-video SEIs. */
export const SIGNED_VIDEO_UUID = Uint8Array.from([0x53, 0x69, 0x67, 0x6e, 0x65, 0x64, 0x20, 0x56, 0x69, 0x64, 0x65, 0x6f, 0x2e, 0x2e, 0x2e, 0x30]);
/** ONVIF Media Signing SEIs (005bc93f-2d71-5e95-ada4-796f90877a6f). */
export const ONVIF_MEDIA_SIGNING_UUID = Uint8Array.from([0x00, 0x5b, 0xc9, 0x3f, 0x2d, 0x71, 0x5e, 0x95, 0xad, 0xa4, 0x79, 0x6f, 0x90, 0x87, 0x7a, 0x6f]);

const UUID_LENGTH = 16;
const USER_DATA_UNREGISTERED = 5;
const STOP_BYTE = 0x80;

export interface SeiInfo {
  uuidType: SeiUuidType;
  /** Offset (in the NAL unit, EPBs kept) of the first payload byte, i.e. the UUID. */
  payloadOffset: number;
  /** sei payload size as coded, UUID included, stop byte excluded (counts bytes without EPBs). */
  payloadSize: number;
  /** Emulation-prevention bytes the library infers from the sizes (may be wrong for hostile input). */
  emulationPreventionBytes: number;
  /** False when the declared payload does not fit in the unit. */
  valid: boolean;
}

export interface NalInfo {
  kind: NalKind;
  /** The header follows the standard (forbidden bit clear, legal nal_ref_idc/temporal id). */
  headerValid: boolean;
  /** First slice of a picture: the unit the library counts as a frame. */
  primarySlice: boolean;
  /** Primary slice of an I picture: where a GOP starts. */
  firstInGop: boolean;
  /** Length of the unit without trailing zero bytes: the part the library hashes. */
  hashableLength: number;
  sei?: SeiInfo;
}

/** Reads an H.264/H.265 NAL unit header and, for SEIs, the user-data-unregistered envelope. */
export function parseNalUnit(codec: Codec, nal: Uint8Array): NalInfo {
  let hashableLength = nal.length;
  // ffmpeg sometimes leaves trailing zero bytes; the library stops hashing at the stop bit.
  while (hashableLength > 0 && nal[hashableLength - 1] === 0) hashableLength--;
  const headerLength = codec === 'h264' ? 1 : 2;
  if (nal.length < headerLength + 1) {
    return { kind: 'undefined', headerValid: false, primarySlice: false, firstInGop: false, hashableLength };
  }
  const header = codec === 'h264' ? parseH264Header(nal) : parseH265Header(nal);
  const isPicture = header.kind === 'I' || header.kind === 'P';
  // first_mb_in_slice / first_slice_segment_in_pic_flag: the top bit of the first payload byte.
  const primarySlice = isPicture && ((nal[headerLength] ?? 0) & 0x80) !== 0;
  const info: NalInfo = {
    kind: header.kind,
    headerValid: header.valid,
    primarySlice,
    firstInGop: header.kind === 'I' && primarySlice,
    hashableLength,
  };
  if (header.kind === 'sei') {
    const sei = parseSeiEnvelope(nal, headerLength, hashableLength);
    if (sei) info.sei = sei;
  }
  return info;
}

function parseH264Header(nal: Uint8Array): { kind: NalKind; valid: boolean } {
  const byte = nal[0] ?? 0;
  const forbidden = (byte & 0x80) !== 0;
  const refIdc = byte & 0x60;
  const type = byte & 0x1f;
  let kind: NalKind = 'undefined';
  let valid = false;
  switch (type) {
    case 1:
      kind = 'P';
      valid = true;
      break;
    case 2:
    case 3:
    case 4:
      kind = 'other';
      valid = true;
      break;
    case 5:
      kind = 'I';
      valid = refIdc > 0;
      break;
    case 6:
      kind = 'sei';
      valid = refIdc === 0;
      break;
    case 7:
    case 8:
    case 13:
    case 15:
      kind = 'parameter-set';
      valid = refIdc > 0;
      break;
    case 9:
      kind = 'aud';
      valid = true;
      break;
    case 10:
    case 11:
    case 12:
      kind = 'other';
      valid = refIdc === 0;
      break;
  }
  return { kind, valid: valid && !forbidden };
}

function parseH265Header(nal: Uint8Array): { kind: NalKind; valid: boolean } {
  const b0 = nal[0] ?? 0;
  const b1 = nal[1] ?? 0;
  const forbidden = (b0 & 0x80) !== 0;
  const type = (b0 & 0x7e) >> 1;
  const layerId = ((b0 & 0x01) << 5) | ((b1 & 0xf8) >> 3);
  const temporalIdPlus1 = b1 & 0x07;
  // The library rejects the unit outright (type left undefined) when temporal id is missing.
  if (temporalIdPlus1 === 0) return { kind: 'undefined', valid: false };
  const temporalId = temporalIdPlus1 - 1;
  let kind: NalKind = 'undefined';
  let valid = false;
  if (type === 0 || type === 1) {
    kind = 'P';
    valid = true;
  } else if (type === 2 || type === 3) {
    kind = 'other';
    valid = temporalId !== 0;
  } else if (type === 4 || type === 5) {
    kind = 'other';
    valid = layerId === 0 ? temporalId !== 0 : true;
  } else if (type >= 6 && type <= 9) {
    kind = 'other';
    valid = temporalId !== 0;
  } else if (type >= 16 && type <= 21) {
    kind = 'I';
    valid = temporalId === 0;
  } else if (type === 32 || type === 33) {
    kind = 'parameter-set';
    valid = temporalId === 0;
  } else if (type === 34) {
    kind = 'parameter-set';
    valid = true;
  } else if (type === 35) {
    kind = 'aud';
    valid = true;
  } else if (type === 36 || type === 37) {
    kind = 'other';
    valid = temporalId === 0 && layerId === 0;
  } else if (type === 38) {
    kind = 'other';
    valid = true;
  } else if (type === 39 || type === 40) {
    kind = 'sei';
    valid = true;
  }
  return { kind, valid: valid && !forbidden };
}

/** The user-data-unregistered envelope of an SEI: payload size, UUID and the EPB count the library infers. */
function parseSeiEnvelope(nal: Uint8Array, headerLength: number, hashableLength: number): SeiInfo | undefined {
  let pos = headerLength;
  if (nal[pos] !== USER_DATA_UNREGISTERED) return undefined;
  pos++;
  let payloadSize = 0;
  while (pos < hashableLength && nal[pos] === 0xff) {
    payloadSize += 0xff;
    pos++;
  }
  if (pos >= hashableLength) return { uuidType: 'other', payloadOffset: pos, payloadSize, emulationPreventionBytes: 0, valid: false };
  payloadSize += nal[pos] ?? 0;
  pos++;
  const payloadOffset = pos;
  const stopByte = nal[hashableLength - 1] === STOP_BYTE ? 1 : 0;
  const emulationPreventionBytes = hashableLength - payloadOffset - payloadSize - stopByte;
  let uuidType: SeiUuidType = 'other';
  if (payloadOffset + UUID_LENGTH <= hashableLength) {
    const uuid = nal.subarray(payloadOffset, payloadOffset + UUID_LENGTH);
    if (bytesEqual(uuid, SIGNED_VIDEO_UUID)) uuidType = 'signed-video';
    else if (bytesEqual(uuid, ONVIF_MEDIA_SIGNING_UUID)) uuidType = 'onvif';
  }
  // A payload running past the unit (negative EPB count) is what a truncated SEI looks like.
  const valid = emulationPreventionBytes >= 0 && payloadSize >= UUID_LENGTH + 1;
  return { uuidType, payloadOffset, payloadSize, emulationPreventionBytes, valid };
}

/**
 * Removes emulation-prevention bytes (the 0x03 of 00 00 03) from `bytes`,
 * returning a new array; `bytes` is left untouched. Same rule as the
 * library's sv_read_byte(): a 0x03 after two zero bytes is dropped.
 */
export function removeEmulationPrevention(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === 0x03 && zeros >= 2) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

/**
 * Removes emulation prevention like the library does when it reads exactly
 * `count` output bytes from `bytes` (sv_read_byte with a running last-two-bytes
 * state): returns the output and how many input bytes it consumed. Reads
 * past the end yield zeros, as a short output would otherwise misalign offsets.
 */
export function readWithoutEmulationPrevention(bytes: Uint8Array, count: number): { out: Uint8Array; consumed: number } {
  const out = new Uint8Array(count);
  let lastTwo = 0x0101;
  let pos = 0;
  for (let i = 0; i < count; i++) {
    let b = bytes[pos] ?? 0;
    if (b === 0x03 && (lastTwo & 0xffff) === 0) {
      lastTwo = ((lastTwo << 8) | b) & 0xffff;
      pos++;
      b = bytes[pos] ?? 0;
    }
    lastTwo = ((lastTwo << 8) | b) & 0xffff;
    pos++;
    out[i] = b;
  }
  return { out, consumed: Math.min(pos, bytes.length) };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
