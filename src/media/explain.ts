/**
 * A verdict in words a clerk understands, for the CLI and the console: what
 * the check found, where it failed, who signed, and what ties (or does not
 * tie) the signing key to a device. Pure text; the callers lay it out.
 */
import type { Authenticity, VideoVerdict } from './verdict.ts';

export const HEADLINES: Record<Authenticity, string> = {
  authentic: 'Authentic: every frame verifies under the key in the stream',
  tampered: 'TAMPERED: frames do not match what the camera signed',
  unsigned: 'Unsigned: the video carries no signature',
  incomplete: 'Incomplete: what is signed verifies, but parts could not be checked',
  unsupported: 'Not checked: a format edgecd cannot verify',
  encrypted: 'Encrypted: verify it after decryption',
};

/** The facts behind a verdict, one sentence each. */
export function explainVerdict(v: VideoVerdict): string[] {
  const lines: string[] = [];
  const codec = v.format.codec ? `${v.format.codec === 'h264' ? 'H.264' : 'H.265'}${v.format.container ? ` in ${v.format.container.toUpperCase()}` : ''}` : undefined;
  const okGops = v.gops.filter((g) => g.outcome === 'ok').length;
  if (codec) lines.push(`${codec}: ${v.frames} frames in ${v.gops.length} groups of pictures, ${okGops} verified; ${v.seis} signature messages`);
  if (v.firstInvalidFrame !== null) lines.push(`The first frame that fails is frame ${v.firstInvalidFrame} (counting from 0).`);
  if (v.signer) {
    const p = v.signer.productInfo;
    // The library writes N/A for a field the signer left empty.
    const known = (x: string | undefined) => (x && x !== 'N/A' ? x : undefined);
    const serial = known(p?.serialNumber);
    const firmware = known(p?.firmwareVersion);
    const claims = [known(p?.manufacturer), known(p?.hardwareId), serial && `serial ${serial}`, firmware && `firmware ${firmware}`].filter(Boolean).join(', ');
    lines.push(
      `Signed with the ${v.signer.algorithm.toUpperCase()} key ${v.signer.publicKeyFingerprint.slice(0, 16)}… (SHA-256 of the key)${claims ? `; the stream says it comes from: ${claims}` : ''}.`,
    );
  }
  const a = v.attestation;
  if (a.kind === 'axis') lines.push(`Axis Edge Vault attests the key${a.serialNumber ? ` for device ${a.serialNumber}` : ''}: it belongs to a genuine Axis device.`);
  else if (a.kind === 'axis-failed') lines.push(`The stream carries an Axis attestation that does NOT verify: ${a.reason}.`);
  else if (v.signer) lines.push('No device attestation: the video is consistent with the key in the stream, but nothing ties that key to a camera.');
  if (v.reason) lines.push(v.reason.endsWith('.') ? v.reason : `${v.reason}.`);
  return lines;
}
