/**
 * Checks the Axis vendor tag of signed-video SEIs: whether the signing key is
 * vouched for by Axis Edge Vault (sv_axis_communications.c).
 *   1. The two certificates in the tag must chain to one of the Axis root
 *      certificates hard-coded in the library (copied below).
 *   2. Factory-provisioned keys (no attestation report): the leaf certificate's
 *      key is the signing key; the serial number is in its common name.
 *   3. Device-provisioned keys: the leaf is an attestation certificate for a
 *      chip id; its key signs an attestation report over the stream's public
 *      key (uncompressed P-256 point), the chip id and fixed attributes.
 *   4. The serial number attested must equal the product info's.
 *
 * Unlike the library, for factory-provisioned keys we also require the key the
 * stream signs with to be the leaf certificate's key (the library only uses
 * the certificate's key when the stream carries none). node:crypto's
 * X509Certificate checks signatures, issuer names and dates; it does not check
 * basicConstraints or key usage.
 */
import { createHash, type KeyObject, verify, X509Certificate } from 'node:crypto';
import type { Attestation } from '../verdict.ts';
import type { StreamPublicKey } from './signature.ts';
import type { AxisVendorInfo, DecodedProductInfo } from './tlv.ts';

const AXIS_ROOT_CERTIFICATES = [
  `-----BEGIN CERTIFICATE-----
MIIClDCCAfagAwIBAgIBATAKBggqhkjOPQQDBDBcMR8wHQYDVQQKExZBeGlzIENv
bW11bmljYXRpb25zIEFCMRgwFgYDVQQLEw9BeGlzIEVkZ2UgVmF1bHQxHzAdBgNV
BAMTFkF4aXMgRWRnZSBWYXVsdCBDQSBFQ0MwHhcNMjAxMDI2MDg0MzEzWhcNMzUx
MDI2MDg0MzEzWjBcMR8wHQYDVQQKExZBeGlzIENvbW11bmljYXRpb25zIEFCMRgw
FgYDVQQLEw9BeGlzIEVkZ2UgVmF1bHQxHzAdBgNVBAMTFkF4aXMgRWRnZSBWYXVs
dCBDQSBFQ0MwgZswEAYHKoZIzj0CAQYFK4EEACMDgYYABAEmfjxRiTrvjLZol9gG
3YCUxcoWihbz2L3+6sp120I+KA/tLhYIDMais32M0tAqld5VDo1FWvi6kEVtqQn4
3+rOzgH8XkXolP+QFNSdKUPyJawnM4B9/jPZ6OA5bG7R1CNKmP4JpkYWqrD22hjc
AV9Hf/hz5TK2pc5IBHIxZyMcnlBc26NmMGQwHQYDVR0OBBYEFJBaAarD0kirmPmR
vCdrM6kt0XChMB8GA1UdIwQYMBaAFJBaAarD0kirmPmRvCdrM6kt0XChMBIGA1Ud
EwEB/wQIMAYBAf8CAQEwDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMEA4GLADCB
hwJBUfwiBK0TIRJebWm9/nsNAEkjbxao40oeMUg+I3mDNr7guNJUo4ugOfToGpnm
3QLOhEJzyHqPBHTChxEd5bGVUW8CQgDR/ZAr405Ohk5kpM/gmzELP+fYDZfuTFut
w3S8HMYSvMWbTCzN+qnq+GV1goSS6vjVr95EpDxCVIxkKOvuxhyVDg==
-----END CERTIFICATE-----`,
  `-----BEGIN CERTIFICATE-----
MIIChjCCAeegAwIBAgIBATAKBggqhkjOPQQDBDBWMQswCQYDVQQGEwJTRTEfMB0G
A1UECgwWQXhpcyBDb21tdW5pY2F0aW9ucyBBQjEmMCQGA1UEAwwdQXhpcyBURUUg
U2lnbmVkIFZpZGVvIFJvb3QgQ0EwHhcNMjYwMzIzMTAyMTE0WhcNNDEwMzE5MTAy
MTE0WjBWMQswCQYDVQQGEwJTRTEfMB0GA1UECgwWQXhpcyBDb21tdW5pY2F0aW9u
cyBBQjEmMCQGA1UEAwwdQXhpcyBURUUgU2lnbmVkIFZpZGVvIFJvb3QgQ0EwgZsw
EAYHKoZIzj0CAQYFK4EEACMDgYYABAByYn89N6rzNsUTEHPRZXsdQQqorBJPX8W/
nV7j00ANnFioFDWp9WdSW/UC1ALY+SKoArUBjnzGnqTPBPtfV3UbRQBOHacPkVgL
//1OxEJfwyhhQrGTcn9KKeG8iJTKFoXArvicU+lilsjE8PV9+uUsE6zbIf4lFQLE
oU5hx+vTSxGRA6NjMGEwHwYDVR0jBBgwFoAUvtSs3PsLSpSPdTDJjXMBivgRJo4w
DwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFL7UrNz7
C0qUj3UwyY1zAYr4ESaOMAoGCCqGSM49BAMEA4GMADCBiAJCAUjQy+PomgLYoKn1
4bcF1Y4Bv80jm285vdy+hQ8AdmaG6ixvHGMSaXolOhSDWKOuwDg0kIYGVF1quHCI
9vEKNZw0AkIB2b20NGna+9QE3hB0nuTmK1uYsqXfbwnQYj0dOv4YfRicHeys73u+
4+x8cqidPOf4i0Xdf+zFg9hRWxW/WGbvmA4=
-----END CERTIFICATE-----`,
];

const MANUFACTURER_AXIS = 'Axis Communications AB';
const ATTESTATION_CN_PREFIX = 'Axis Edge Vault Attestation ';
const CHIP_ID_SIZE = 18;
const CHIP_ID_PREFIX = Buffer.from([0x04, 0x00, 0x50, 0x01]);
const ATTRIBUTES = Buffer.from([
  0x7b, 0x00, 0x02, 0x01, 0x29, 0x01, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x03, 0x00, 0x00, 0x08, 0x7b, 0x00, 0x00, 0x03, 0x1f, 0x3c, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x20, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
]);
const FRESHNESS = Buffer.from([0x92, 0xbb, 0xed, 0xfb, 0x98, 0x82, 0xac, 0x16, 0xc7, 0xf0, 0x1a, 0xe4, 0x59, 0x05, 0x96, 0x04]);
const MAX_UNTRUSTED_CERTIFICATES = 2;

let roots: X509Certificate[] | undefined;
function axisRoots(): X509Certificate[] {
  roots ??= AXIS_ROOT_CERTIFICATES.map((pem) => new X509Certificate(pem));
  return roots;
}

class AttestationFailure extends Error {}
function fail(reason: string): never {
  throw new AttestationFailure(reason);
}

/**
 * Judges the Axis vendor tag against the stream's signing key and product
 * info. `now` is when certificates must be valid (the library checks at
 * validation time too).
 */
export function verifyAxisAttestation(vendor: AxisVendorInfo, streamKey: StreamPublicKey | undefined, productInfo: DecodedProductInfo | undefined, now = new Date()): Attestation {
  try {
    if (!productInfo || productInfo.manufacturer !== MANUFACTURER_AXIS)
      return fail('the stream carries an Axis vendor tag but its product info does not name Axis Communications AB');
    const chain = parseChain(vendor.certificateChain);
    const leaf = chain[0] as X509Certificate;
    verifyChain(chain, now);
    const subject = parseSubject(leaf.subject);
    const commonName = subject.get('CN') ?? fail('the attestation certificate has no common name');
    let serialNumber: string;
    let chipId: string | undefined;
    if (vendor.attestation.length === 0) {
      // Factory provisioned: "…-SERIAL-…" in the common name, the leaf key signs the video.
      const parts = commonName.split('-');
      if (parts.length < 3) fail('the factory certificate has no serial number in its common name');
      serialNumber = (parts[1] as string).toUpperCase();
      if (!streamKey || !Buffer.from(streamKey.spki).equals(Buffer.from(leaf.publicKey.export({ format: 'der', type: 'spki' })))) {
        fail('the stream is not signed with the key of the Axis certificate');
      }
    } else {
      const at = commonName.indexOf(ATTESTATION_CN_PREFIX);
      if (at < 0) fail('the leaf certificate is not an Axis Edge Vault attestation certificate');
      const chipHex = commonName.slice(at + ATTESTATION_CN_PREFIX.length);
      if (!/^[0-9a-fA-F]{36}$/.test(chipHex)) fail('the attestation certificate has a malformed chip id');
      const chip = Buffer.from(chipHex, 'hex');
      if (!chip.subarray(0, 4).equals(CHIP_ID_PREFIX)) fail('the chip id does not have the Axis prefix');
      chipId = chipHex.toUpperCase();
      serialNumber = subject.get('serialNumber') ?? fail('the attestation certificate has no serial number');
      if (leaf.publicKey.asymmetricKeyType !== 'ec') fail('the attestation certificate key is not an EC key');
      if (!streamKey) fail('the stream carries no public key for the attestation to cover');
      verifyReport(vendor.attestation, chip, leaf.publicKey, streamKey as StreamPublicKey);
    }
    if (productInfo.serialNumber !== serialNumber) fail(`the attested serial number ${serialNumber} differs from the product info's ${productInfo.serialNumber}`);
    const result: Attestation = { kind: 'axis', serialNumber, certificateSubject: leaf.subject.replaceAll('\n', ', ') };
    if (chipId) result.chipId = chipId;
    return result;
  } catch (err) {
    if (err instanceof AttestationFailure) return { kind: 'axis-failed', reason: err.message };
    // Malformed certificates make X509Certificate throw: that is a failed attestation, not a crash.
    return { kind: 'axis-failed', reason: `the Axis certificate chain cannot be read (${(err as Error).message})` };
  }
}

function parseChain(text: string): X509Certificate[] {
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) fail('the Axis vendor tag has no certificate');
  if (pems.length > MAX_UNTRUSTED_CERTIFICATES) fail(`the Axis vendor tag has ${pems.length} certificates, at most ${MAX_UNTRUSTED_CERTIFICATES} expected`);
  return pems.map((pem) => new X509Certificate(pem));
}

function verifyChain(chain: X509Certificate[], now: Date): void {
  const inForce = (c: X509Certificate) => new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    if (!inForce(cert)) fail(`certificate "${cert.subject.replaceAll('\n', ', ')}" is not valid at ${now.toISOString()}`);
    const issuer = chain[i + 1];
    if (issuer && !(cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) fail('the Axis certificate chain is broken');
  }
  const top = chain[chain.length - 1] as X509Certificate;
  const root = axisRoots().find((r) => top.checkIssued(r) && top.verify(r.publicKey));
  if (!root) fail('the certificate chain does not end at an Axis root certificate');
  if (!inForce(root as X509Certificate)) fail('the Axis root certificate is not valid now');
}

/** "C=SE\nO=…\nCN=…" → attribute map (first value wins). */
function parseSubject(subject: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !map.has(line.slice(0, eq))) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

/** The Edge Vault attestation report: header, version, object id, list length, timestamp, signature. */
function verifyReport(report: Uint8Array, chipId: Buffer, attestationKey: KeyObject, streamKey: StreamPublicKey): void {
  if (report.length < 24) fail('the attestation report is truncated');
  if (report[8] !== 1) fail('the attestation report does not hold exactly one attestation');
  const timestamp = report.subarray(9, 21);
  const signatureSize = ((report[21] as number) << 8) | (report[22] as number);
  if (23 + signatureSize !== report.length) fail('the attestation report signature size is inconsistent');
  const signature = report.subarray(23);
  const point = uncompressedP256(streamKey);
  const rawData = Buffer.from([
    0x80, 0x22, 0x00, 0x00, 0x00, 0x00, 0x21, 0x41, 0x04, 0xf0, 0x00, 0x00, 0x12, 0x45, 0x04, 0xf0, 0x00, 0x00, 0x12, 0x46, 0x01, 0x21, 0x47, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  ]);
  ATTRIBUTES.copy(rawData, 9, 0, 4);
  FRESHNESS.copy(rawData, 24);
  const signedData = Buffer.concat([
    createHash('sha256').update(rawData).digest(),
    Buffer.from([0x41, 0x82, 0x00, 65]),
    point,
    Buffer.from([0x42, 0x82, 0x00, CHIP_ID_SIZE]),
    chipId,
    Buffer.from([0x43, 0x82, 0x00, ATTRIBUTES.length]),
    ATTRIBUTES,
    Buffer.from([0x44, 0x82, 0x00, 0x02, 0x00, 0x20, 0x4f, 0x82, 0x00, 0x0c]),
    timestamp,
  ]);
  let ok = false;
  try {
    ok = verify('sha256', signedData, attestationKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) fail("the attestation report does not cover the stream's public key");
}

function uncompressedP256(key: StreamPublicKey): Buffer {
  const jwk = key.key.export({ format: 'jwk' });
  if (key.algorithm !== 'ecdsa' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) fail('the signing key is not a P-256 key, which Edge Vault attestation requires');
  return Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
}
