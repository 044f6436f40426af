/**
 * The host's health as a field station reports it: CPU temperature and
 * throttling where the hardware says (a Raspberry Pi does; a VM does not),
 * load, memory. Read at most every few seconds; absent figures are null.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freemem, loadavg, totalmem } from 'node:os';

export interface SystemHealth {
  cpuTemperatureC: number | null;
  /** Raspberry Pi firmware throttling flags (get_throttled), e.g. "0x0"; null where unknown. */
  throttled: string | null;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number; processRssBytes: number; heapUsedBytes: number };
}

const THROTTLED = '/sys/devices/platform/soc/soc:firmware/get_throttled';
const THERMAL = '/sys/class/thermal';
/** Thermal zones that are the CPU's: a Raspberry Pi's SoC sensor, x86 packages. (thermal_zone0 is often the board's on a PC.) */
const CPU_ZONES = new Set(['cpu-thermal', 'cpu_thermal', 'soc_thermal', 'x86_pkg_temp']);
let cached: { at: number; value: SystemHealth } | undefined;

/**
 * Read straight from the kernel: the thermal zones, the firmware's flags and
 * the memory figures. (The systeminformation library gave the same for 10 MB
 * of resident memory, a sixth of a Pi 3 station's idle budget.)
 */
export async function systemHealth(now = Date.now()): Promise<SystemHealth> {
  if (cached && now - cached.at < 5000) return cached.value;
  const [temperature, throttled] = await Promise.all([cpuTemperature(), text(THROTTLED)]);
  const usage = process.memoryUsage();
  const value: SystemHealth = {
    cpuTemperatureC: temperature,
    throttled: throttled === null || throttled === '' ? null : `0x${Number.parseInt(throttled, 16).toString(16)}`,
    load: loadavg() as [number, number, number],
    // freemem() is the kernel's MemAvailable on Linux.
    memory: { totalBytes: totalmem(), availableBytes: freemem(), processRssBytes: usage.rss, heapUsedBytes: usage.heapUsed },
  };
  cached = { at: now, value };
  return value;
}

const text = (path: string) =>
  readFile(path, 'utf8').then(
    (t) => t.trim(),
    () => null,
  );

/** °C from the first thermal zone that is the CPU's, or null. */
async function cpuTemperature(): Promise<number | null> {
  const zones = await readdir(THERMAL).catch(() => [] as string[]);
  for (const zone of zones.filter((z) => z.startsWith('thermal_zone')).sort()) {
    if (!CPU_ZONES.has((await text(join(THERMAL, zone, 'type'))) ?? '')) continue;
    const milli = Number((await text(join(THERMAL, zone, 'temp'))) || Number.NaN);
    if (Number.isFinite(milli)) return Math.round(milli / 100) / 10;
  }
  return null;
}
