/**
 * The host's health as a field station reports it: CPU temperature and
 * throttling where the hardware says (a Raspberry Pi does; a VM does not),
 * load, memory. Read at most every few seconds; absent figures are null.
 */
import { readFile } from 'node:fs/promises';
import { freemem, loadavg, totalmem } from 'node:os';

export interface SystemHealth {
  cpuTemperatureC: number | null;
  /** Raspberry Pi firmware throttling flags (get_throttled), e.g. "0x0"; null where unknown. */
  throttled: string | null;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number; processRssBytes: number; heapUsedBytes: number };
}

const THROTTLED = '/sys/devices/platform/soc/soc:firmware/get_throttled';
/** The SoC's sensor on a Raspberry Pi (thermal_zone0, "cpu-thermal"), in millidegrees. */
const CPU_THERMAL = '/sys/class/thermal/thermal_zone0/temp';
let cached: { at: number; value: SystemHealth } | undefined;

/**
 * Read straight from the kernel: two files and /proc/meminfo. (The
 * systeminformation library gave the same two figures for 10 MB of resident
 * memory, a sixth of a Pi 3 station's idle budget.)
 */
export async function systemHealth(now = Date.now()): Promise<SystemHealth> {
  if (cached && now - cached.at < 5000) return cached.value;
  const text = (path: string) =>
    readFile(path, 'utf8').then(
      (t) => t.trim(),
      () => null,
    );
  const [temperature, meminfo, throttled] = await Promise.all([text(CPU_THERMAL), text('/proc/meminfo'), text(THROTTLED)]);
  const milli = temperature === null ? Number.NaN : Number(temperature);
  const available = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo ?? '');
  const usage = process.memoryUsage();
  const value: SystemHealth = {
    cpuTemperatureC: Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null,
    throttled: throttled === null ? null : `0x${Number.parseInt(throttled, 16).toString(16)}`,
    load: loadavg() as [number, number, number],
    memory: { totalBytes: totalmem(), availableBytes: available ? Number(available[1]) * 1024 : freemem(), processRssBytes: usage.rss, heapUsedBytes: usage.heapUsed },
  };
  cached = { at: now, value };
  return value;
}
