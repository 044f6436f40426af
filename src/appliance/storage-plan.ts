/**
 * Where an appliance keeps evidence, decided from `lsblk --json` alone so the
 * decision can be read and tested without touching a disk.
 *
 * The root filesystem grows once, to a fixed size; evidence never shares it.
 * An attached disk (USB SSD or HDD, or a PC's second disk) is preferred over
 * the boot card, which wears out: used when blank or already an edgecd data
 * disk (a reflashed card finds its evidence again), never formatted when it
 * holds anything else unless IT said so. Otherwise a partition is made from
 * the boot disk's free space.
 */
import { OperatorError } from '../lib/errors.ts';

export const DATA_LABEL = 'edgecd-data';
export const ROOT_LABEL = 'edgecd-root';
/** The root's final size: the system with room for updates (and, later, a second system slot beside it). */
export const ROOT_BYTES = 4 * 1024 ** 3;
/** Smaller than this is no place for evidence. */
export const MIN_DATA_BYTES = 1024 ** 3;
const SECTOR = 512;
const ALIGN = 1024 * 1024;

export interface BlockDevice {
  name: string;
  path: string;
  type: string;
  size: number;
  /** First sector (512 bytes) of a partition. */
  start: number | null;
  tran: string | null;
  rm: boolean;
  ro: boolean;
  fstype: string | null;
  label: string | null;
  uuid: string | null;
  pttype: string | null;
  mountpoints: (string | null)[];
  children?: BlockDevice[];
}

/** The lsblk columns the plan reads. */
export const LSBLK_ARGS = ['--json', '--bytes', '--tree', '--output', 'NAME,PATH,TYPE,SIZE,START,TRAN,RM,RO,FSTYPE,LABEL,UUID,PTTYPE,MOUNTPOINTS'];

export function parseLsblk(json: string): BlockDevice[] {
  const doc = JSON.parse(json) as { blockdevices: Record<string, unknown>[] };
  const toDevice = (d: Record<string, unknown>): BlockDevice => ({
    name: String(d.name),
    path: String(d.path),
    type: String(d.type),
    size: Number(d.size),
    start: d.start === null || d.start === undefined ? null : Number(d.start),
    tran: (d.tran as string | null) ?? null,
    rm: d.rm === true || d.rm === '1',
    ro: d.ro === true || d.ro === '1',
    fstype: (d.fstype as string | null) ?? null,
    label: (d.label as string | null) ?? null,
    uuid: (d.uuid as string | null) ?? null,
    pttype: (d.pttype as string | null) ?? null,
    mountpoints: (d.mountpoints as (string | null)[] | undefined) ?? [],
    ...(Array.isArray(d.children) ? { children: (d.children as Record<string, unknown>[]).map(toDevice) } : {}),
  });
  return doc.blockdevices.map(toDevice);
}

export interface GrowRoot {
  disk: string;
  /** Partition number of the root. */
  number: number;
  device: string;
  toBytes: number;
  /** A flashed GPT image keeps its backup table where the image ended: it must move to the disk's end first. */
  gpt: boolean;
}

export type DataPlan =
  /** An edgecd data filesystem already there (first boot run again, or a reflashed card). */
  | { kind: 'reuse'; device: string; disk: string }
  /** A partition made from the boot disk's free space, starting at `startSector`. */
  | { kind: 'new-partition'; disk: string; number: number; startSector: number }
  /** A partition without a filesystem that an interrupted first boot made. */
  | { kind: 'format-partition'; disk: string; device: string }
  /** An attached disk: a new partition table with one partition over all of it. */
  | { kind: 'whole-disk'; disk: string };

export interface StoragePlan {
  bootDisk: string;
  growRoot: GrowRoot | null;
  data: DataPlan;
  /** Disks passed over, and why (for the console and the log). */
  notes: string[];
}

export interface StorageChoice {
  /** 'auto', 'internal' or a device path. */
  dataDisk: string;
  formatDataDisk: boolean;
}

/** No safe place for evidence: IT must attach a disk or name one. */
export class StoragePlanError extends OperatorError {}

const partNumber = (d: BlockDevice) => Number(/(\d+)$/.exec(d.name)?.[1] ?? NaN);
const isBlank = (d: BlockDevice) => d.pttype === null && d.fstype === null && (d.children ?? []).length === 0;
const dataPartition = (d: BlockDevice) => [d, ...(d.children ?? [])].find((p) => p.label === DATA_LABEL && p.fstype === 'ext4');
const alignUp = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;
const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

export function planStorage(devices: BlockDevice[], choice: StorageChoice): StoragePlan {
  const disks = devices.filter((d) => d.type === 'disk');
  const bootDisk = disks.find((d) => (d.children ?? []).some((p) => p.mountpoints.includes('/')));
  if (!bootDisk) throw new StoragePlanError('cannot tell which disk the system runs from (no partition is mounted at /)');
  const root = bootDisk.children!.find((p) => p.mountpoints.includes('/'))!;
  if (root.start === null) throw new StoragePlanError(`lsblk gave no start sector for ${root.path}`);
  const rootStart = root.start * SECTOR;
  // GPT keeps a backup table in the last 33 sectors; 1 MiB covers it and keeps alignment.
  const usableEnd = bootDisk.size - (bootDisk.pttype === 'gpt' ? ALIGN : 0);
  const rootBytes = Math.max(root.size, Math.min(ROOT_BYTES, usableEnd - rootStart));
  const growRoot = rootBytes > root.size ? { disk: bootDisk.path, number: partNumber(root), device: root.path, toBytes: rootBytes, gpt: bootDisk.pttype === 'gpt' } : null;
  const notes: string[] = [];

  const onBootDisk = (): DataPlan => {
    const ours = dataPartition(bootDisk);
    if (ours) return { kind: 'reuse', device: ours.path, disk: bootDisk.path };
    const parts = bootDisk.children ?? [];
    const unfinished = parts.find((p) => partNumber(p) > partNumber(root) && p.fstype === null);
    if (unfinished) return { kind: 'format-partition', disk: bootDisk.path, device: unfinished.path };
    const lastEnd = Math.max(...parts.map((p) => (p.start ?? 0) * SECTOR + p.size), rootStart + rootBytes);
    const start = alignUp(lastEnd);
    if (usableEnd - start < MIN_DATA_BYTES) {
      throw new StoragePlanError(
        `no room for evidence: ${bootDisk.path} has ${gib(Math.max(0, usableEnd - start))} free after the system; use a larger card or disk (8 GB or more), or attach a USB disk`,
      );
    }
    return { kind: 'new-partition', disk: bootDisk.path, number: Math.max(...parts.map(partNumber)) + 1, startSector: start / SECTOR };
  };

  /** `named`: IT chose this disk in data_disk, so format_data_disk applies to it. */
  const attached = (disk: BlockDevice, named: boolean): DataPlan | null => {
    const ours = dataPartition(disk);
    if (ours) return { kind: 'reuse', device: ours.path, disk: disk.path };
    if (disk.ro) {
      notes.push(`${disk.path}: read-only`);
      return null;
    }
    if (disk.size < MIN_DATA_BYTES) {
      notes.push(`${disk.path}: too small (${gib(disk.size)})`);
      return null;
    }
    if (isBlank(disk) || (named && choice.formatDataDisk)) return { kind: 'whole-disk', disk: disk.path };
    notes.push(`${disk.path}: holds other data, left alone${named ? '' : ' (name it in data_disk with format_data_disk = yes to use it)'}`);
    return null;
  };

  if (choice.dataDisk === 'internal') return { bootDisk: bootDisk.path, growRoot, data: onBootDisk(), notes };
  if (choice.dataDisk !== 'auto') {
    const named = disks.find((d) => d.path === choice.dataDisk);
    if (!named) throw new StoragePlanError(`data_disk ${choice.dataDisk}: no such disk (found ${disks.map((d) => d.path).join(', ')})`);
    if (named === bootDisk) return { bootDisk: bootDisk.path, growRoot, data: onBootDisk(), notes };
    const data = attached(named, true);
    if (!data) throw new StoragePlanError(`data_disk ${choice.dataDisk}: ${notes.at(-1)}`);
    return { bootDisk: bootDisk.path, growRoot, data, notes };
  }
  // auto: an earlier edgecd disk first, then the largest blank one, then the card.
  const others = disks.filter((d) => d !== bootDisk && !/^(zram|loop|ram|fd)/.test(d.name));
  const reused = others.find((d) => dataPartition(d));
  if (reused) return { bootDisk: bootDisk.path, growRoot, data: attached(reused, false)!, notes };
  for (const disk of [...others].sort((a, b) => b.size - a.size)) {
    const data = attached(disk, false);
    if (data) return { bootDisk: bootDisk.path, growRoot, data, notes };
  }
  return { bootDisk: bootDisk.path, growRoot, data: onBootDisk(), notes };
}
