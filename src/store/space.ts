/**
 * Space admission: decides, before an upload's body is read, whether storing
 * it would cross the quota (quota.maxBytes) or eat into the free space always
 * kept on the data filesystem (quota.reserveBytes / quota.reservePercent).
 *
 * Uploads in flight hold reservations, so many concurrent uploads cannot
 * together overshoot. A reservation covers what has arrived plus a window
 * ahead (UPLOAD_WINDOW_BYTES), never the declared size at once: one PUT that
 * declares the whole quota and then sends nothing must not shut everyone else
 * out. The declared size is checked up front (507 before the body); an
 * upload that then runs into others is cut off with 507 the moment it would
 * cross, as a chunked upload (no declared size) always is.
 *
 * What is stored includes bookkeeping: every change's line in its container
 * log, its audit line and index entry (metadata-only writes are otherwise
 * free to fill a disk). Metadata changes may go a little past the quota and
 * into half the reserve, so a full station can still mark its recordings
 * complete; uploads may not.
 */
import { statfs } from 'node:fs/promises';
import { EdgeError } from '../lib/errors.ts';

export interface SpaceLimits {
  /** Bytes edgecd may hold; 0 = no limit beyond the disk. */
  maxBytes: number;
  reserveBytes: number;
  reservePercent: number;
}

export interface DiskView {
  totalBytes: number;
  freeBytes: number;
}

export interface SpaceView extends DiskView {
  /** Bytes stored: objects, and the bookkeeping of every change (see bookkeepingBytes). */
  usedBytes: number;
  /** Bytes held for uploads in flight: received, and a window ahead. */
  reservedBytes: number;
  /** Free space always kept on the filesystem. */
  keepFreeBytes: number;
  quotaBytes: number;
  uploadsInFlight: number;
}

/** How far ahead of the bytes received a declared upload's reservation reaches. */
export const UPLOAD_WINDOW_BYTES = 16 * 1024 * 1024;

export class Reservation {
  readonly #guard: SpaceGuard;
  /** The size the upload declared (Content-Length); undefined for a chunked one. */
  readonly #declared: number | undefined;
  /** Bytes held for this upload: those received, plus the window ahead. */
  admitted: number;
  /** Bytes of the object it replaces: they leave the quota when it commits. */
  readonly replacing: number;
  /** Bytes this upload has written so far. */
  written = 0;
  #released = false;

  constructor(guard: SpaceGuard, declared: number | undefined, replacing: number) {
    this.#guard = guard;
    this.#declared = declared;
    this.admitted = Math.min(declared ?? 0, UPLOAD_WINDOW_BYTES);
    this.replacing = replacing;
  }

  /**
   * The upload has written `total` bytes; throws 507 if holding them (and
   * the window ahead) crosses a limit. Returns a promise only when room must
   * first be made (eviction).
   */
  progress(total: number): void | Promise<void> {
    const target = this.#declared === undefined ? total : Math.min(this.#declared, total + UPLOAD_WINDOW_BYTES);
    if (target <= this.admitted) {
      this.written = total;
      return;
    }
    const more = target - this.admitted;
    const grow = () => {
      this.admitted = target;
      this.written = total;
    };
    try {
      this.#guard.check(more);
    } catch (err) {
      if (!this.#guard.canMakeRoom) throw err; // refused at once, as the chunk arrives
      return this.#guard.withRoom(more, 0, err).then(grow);
    }
    grow();
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#guard.forget(this);
  }
}

const STATFS_MAX_AGE_MS = 1000;
/** How far past the quota metadata changes may go (or 1 % of the quota, if more). */
const METADATA_HEADROOM_BYTES = 1024 * 1024;

export class SpaceGuard {
  readonly #dir: string;
  readonly #limits: SpaceLimits;
  readonly #usedBytes: () => number;
  readonly #reservations = new Set<Reservation>();
  readonly #makeRoom: ((needed: () => Promise<number>) => Promise<number>) | undefined;
  #disk: DiskView & { at: number } = { totalBytes: 0, freeBytes: 0, at: 0 };

  /**
   * `makeRoom(needed)` may free space (eviction) before an upload is refused;
   * it asks `needed()` once it may act (others may have freed space meanwhile)
   * and returns the bytes it freed.
   */
  constructor(dir: string, limits: SpaceLimits, usedBytes: () => number, makeRoom?: (needed: () => Promise<number>) => Promise<number>) {
    this.#dir = dir;
    this.#limits = limits;
    this.#usedBytes = usedBytes;
    this.#makeRoom = makeRoom;
  }

  /** Refreshes the filesystem figures if they are older than a second. */
  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.#disk.at < STATFS_MAX_AGE_MS) return;
    const s = await statfs(this.#dir);
    this.#disk = { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize, at: Date.now() };
  }

  /**
   * Admits an upload that declared `declared` bytes (undefined for a chunked
   * one) and replaces an object of `replacing` bytes (0 for a new one).
   */
  async admit(declared: number | undefined, replacing = 0): Promise<Reservation> {
    await this.refresh();
    const bytes = declared ?? 0;
    try {
      this.check(bytes, replacing);
    } catch (err) {
      await this.withRoom(bytes, replacing, err);
    }
    const reservation = new Reservation(this, declared, replacing);
    this.#reservations.add(reservation);
    return reservation;
  }

  /**
   * Throws 507 if `more` bytes would cross the quota or the reserve. Bytes an
   * upload replaces count for the quota (the object is replaced, not added),
   * not for the disk (old and new both exist until the commit).
   */
  check(more: number, replacing = 0): void {
    const view = this.view();
    let credit = replacing;
    for (const r of this.#reservations) credit += Math.min(r.replacing, r.admitted);
    if (view.quotaBytes > 0 && view.usedBytes + view.reservedBytes + more - credit > view.quotaBytes) {
      throw new EdgeError('InsufficientStorage', `Quota of ${view.quotaBytes} bytes would be exceeded (quota.maxBytes)`);
    }
    if (view.freeBytes - view.reservedBytes - more < view.keepFreeBytes) {
      throw new EdgeError(
        'InsufficientStorage',
        `The data filesystem would fall below its reserve of ${view.keepFreeBytes} free bytes (quota.reserveBytes / quota.reservePercent)`,
      );
    }
  }

  /**
   * Throws 507 if a metadata change of about `more` bytes would go past the
   * quota by more than its headroom, or leave less than half the reserve free.
   */
  async admitMetadata(more: number): Promise<void> {
    await this.refresh();
    const view = this.view();
    const headroom = Math.max(METADATA_HEADROOM_BYTES, Math.floor(view.quotaBytes / 100));
    if (view.quotaBytes > 0 && view.usedBytes + view.reservedBytes + more > view.quotaBytes + headroom) {
      throw new EdgeError('InsufficientStorage', `Quota of ${view.quotaBytes} bytes exceeded, metadata changes' headroom of ${headroom} bytes too (quota.maxBytes)`);
    }
    if (view.freeBytes - view.reservedBytes - more < view.keepFreeBytes / 2) {
      throw new EdgeError('InsufficientStorage', `The data filesystem is down to half its reserve of ${view.keepFreeBytes} free bytes: metadata changes stop too`);
    }
  }

  /** Whether space can be made (eviction is configured). */
  get canMakeRoom(): boolean {
    return this.#makeRoom !== undefined;
  }

  /** Makes room for `more` bytes if it can, then checks again; rethrows `refusal` if it cannot. */
  async withRoom(more: number, replacing: number, refusal: unknown): Promise<void> {
    if (!this.#makeRoom) throw refusal;
    // Room for this and one more like it, so a stream of uploads does not
    // pay for an eviction each.
    await this.#makeRoom(async () => {
      await this.refresh(true); // figures from before an eviction that ran meanwhile would overstate the need
      return this.shortfall(more * 2, replacing);
    });
    await this.refresh(true);
    this.check(more, replacing);
  }

  /** How many bytes must be freed for `more` to pass both the quota and the reserve. */
  shortfall(more: number, replacing = 0): number {
    const view = this.view();
    let credit = replacing;
    for (const r of this.#reservations) credit += Math.min(r.replacing, r.admitted);
    const overQuota = view.quotaBytes > 0 ? view.usedBytes + view.reservedBytes + more - credit - view.quotaBytes : 0;
    const overDisk = view.keepFreeBytes + view.reservedBytes + more - view.freeBytes;
    return Math.max(0, overQuota, overDisk);
  }

  forget(reservation: Reservation): void {
    this.#reservations.delete(reservation);
  }

  view(): SpaceView {
    // An upload's reservation includes what it already wrote, though the free
    // space the filesystem reports shrinks as it writes: conservative by at
    // most what is in flight, never optimistic.
    let reservedBytes = 0;
    for (const r of this.#reservations) reservedBytes += r.admitted;
    const keepFreeBytes = Math.max(this.#limits.reserveBytes, Math.ceil((this.#limits.reservePercent / 100) * this.#disk.totalBytes));
    return {
      totalBytes: this.#disk.totalBytes,
      freeBytes: this.#disk.freeBytes,
      usedBytes: this.#usedBytes(),
      reservedBytes,
      keepFreeBytes,
      quotaBytes: this.#limits.maxBytes,
      uploadsInFlight: this.#reservations.size,
    };
  }
}
