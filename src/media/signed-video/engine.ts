/**
 * The contract between the verifier (verifier.ts) and the two validation
 * engines (current.ts, legacy.ts): the verifier parses units and SEIs, the
 * engine decides which units an SEI covers and how they verify.
 */
import type { SeiDocument } from './document.ts';
import type { PictureItem, ValidationReport } from './gop.ts';
import type { SignedVideoSei } from './sei.ts';

export interface PendingSei {
  /** Position in the stream (NAL unit count). */
  seq: number;
  /** Frame count at the SEI. */
  frame: number;
  sei: SignedVideoSei;
  doc: SeiDocument;
}

export interface ValidationEngine {
  addPicture(item: PictureItem): ValidationReport[];
  addSei(sei: PendingSei): ValidationReport[];
  /** Units still waiting for an SEI. */
  pendingItems(): readonly PictureItem[];
  /** Forgets the oldest pending units (memory cap). */
  dropOldest(count: number): void;
  /** Whether the engine itself had to drop something an attacker controls (queued SEIs). */
  capped(): boolean;
}
