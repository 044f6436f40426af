/**
 * The hash rules of Axis signed video (sv_common.c / legacy_common.c hash
 * wrappers), over node:crypto:
 *   - a picture NAL unit is hashed as sent (emulation prevention kept, trailing
 *     zero bytes dropped): h(F);
 *   - the first unit of a GOP is the reference: hash(I) = h(I);
 *   - every other unit is chained to it: hash(F) = h(h(I) ‖ h(F));
 *   - a GOP hash is h(0x01 ‖ hash₁ ‖ hash₂ ‖ …) (current layout) or, in the legacy
 *     layout, the recursive h(h(…h(h(salt) ‖ hash₁)…) ‖ hashₙ).
 * Picture payloads are fed to the hash as subarrays, never copied.
 */
import { createHash, type Hash, hash as oneShotHash } from 'node:crypto';

export const HASH_SIZE = 32;

/** h(data) with SHA-256 (one-shot crypto.hash: much cheaper per call than a Hash object). */
export function sha256(data: Uint8Array): Uint8Array {
  return oneShotHash('sha256', data, 'buffer');
}

const pair = new Uint8Array(2 * HASH_SIZE);

/** h(a ‖ b): the chained hash of a unit against its GOP's reference. */
export function chainedHash(reference: Uint8Array, unitHash: Uint8Array): Uint8Array {
  pair.set(reference, 0);
  pair.set(unitHash, HASH_SIZE);
  return oneShotHash('sha256', pair, 'buffer');
}

/** Incremental GOP hash of the current layout: h(salt ‖ hash₁ ‖ … ‖ hashₙ), salt = 0x01 (sv_openssl_init_hash). */
export class GopHasher {
  private hash: Hash = createHash('sha256').update(Uint8Array.of(1));
  count = 0;
  add(unitHash: Uint8Array): void {
    this.hash.update(unitHash);
    this.count++;
  }
  digest(): Uint8Array {
    return new Uint8Array(this.hash.digest());
  }
}

/** The legacy recursive GOP hash, starting from h(salt) with salt = 0x01. */
export class LegacyGopHasher {
  private value = sha256(Uint8Array.of(1));
  add(unitHash: Uint8Array): void {
    this.value = chainedHash(this.value, unitHash);
  }
  digest(): Uint8Array {
    return this.value;
  }
}

/** Maps the DER OID of the crypto info tag to a node:crypto hash name; undefined when unsupported. */
export function hashNameFromOid(oid: Uint8Array): string | undefined {
  const hex = Buffer.from(oid).toString('hex');
  // 06 09 60 86 48 01 65 03 04 02 0x: joint-iso-itu-t.country.us.organization.gov.csor.nistalgorithm.hashalgs
  const known: Record<string, string> = {
    '0609608648016503040201': 'sha256',
    '0609608648016503040202': 'sha384',
    '0609608648016503040203': 'sha512',
  };
  return known[hex];
}
