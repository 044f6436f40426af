/**
 * The decoded content of one signed-video SEI ("document" plus signature):
 * the TLV tags of tlv.ts gathered into one typed record, for either layout.
 *
 * Decoding never throws: a tag that fails to decode is recorded in `error`
 * and the record holds what came before it, which is how the library behaves
 * (sv_tlv_decode stops at the first bad tag and the SEI fails validation).
 */
import {
  type AxisVendorInfo,
  type DecodedProductInfo,
  decodeArbitraryData,
  decodeAxisVendor,
  decodeCryptoInfo,
  decodeGeneral,
  decodeHashList,
  decodeProductInfo,
  decodePublicKey,
  decodeSignature,
  type GeneralInfo,
  type SignatureInfo,
  splitTlvs,
  TAG,
  TlvError,
} from './tlv.ts';

export interface SeiDocument {
  general?: GeneralInfo;
  publicKeyPem?: Uint8Array;
  productInfo?: DecodedProductInfo;
  hashList?: Uint8Array;
  signature?: SignatureInfo;
  hashOid?: Uint8Array;
  axis?: AxisVendorInfo;
  /** Why decoding stopped early, if it did. */
  error?: string;
}

export function decodeDocument(tlv: Uint8Array, legacy: boolean): SeiDocument {
  const doc: SeiDocument = {};
  try {
    for (const { tag, value } of splitTlvs(tlv)) {
      switch (tag) {
        case TAG.general:
          doc.general = decodeGeneral(value, legacy);
          break;
        case TAG.publicKey:
          doc.publicKeyPem = decodePublicKey(value).slice();
          break;
        case TAG.productInfo:
          doc.productInfo = decodeProductInfo(value, legacy);
          break;
        case TAG.hashList:
          doc.hashList = decodeHashList(value).slice();
          break;
        case TAG.signature: {
          const s = decodeSignature(value, legacy);
          doc.signature = { ...s, signature: s.signature.slice() };
          break;
        }
        case TAG.cryptoInfo:
          doc.hashOid = decodeCryptoInfo(value).slice();
          break;
        case TAG.arbitraryData:
          decodeArbitraryData(value);
          break;
        case TAG.vendorAxis: {
          const v = decodeAxisVendor(value);
          doc.axis = { attestation: v.attestation.slice(), certificateChain: v.certificateChain };
          break;
        }
      }
    }
  } catch (err) {
    if (!(err instanceof TlvError)) throw err;
    doc.error = err.message;
  }
  return doc;
}
