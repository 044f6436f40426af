/**
 * The host's health as a field station reports it: CPU temperature and
 * throttling where the hardware says (a Raspberry Pi does; a VM does not),
 * load, memory. Read at most every few seconds; absent figures are null.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import si from 'systeminformation';

export interface SystemHealth {
  cpuTemperatureC: number | null;
  /** Raspberry Pi firmware throttling flags (get_throttled), e.g. "0x0"; null where unknown. */
  throttled: string | null;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number; processRssBytes: number; heapUsedBytes: number };
}

const THROTTLED = '/sys/devices/platform/soc/soc:firmware/get_throttled';
let cached: { at: number; value: SystemHealth } | undefined;

export async function systemHealth(now = Date.now()): Promise<SystemHealth> {
  if (cached && now - cached.at < 5000) return cached.value;
  const [temperature, mem, throttled] = await Promise.all([
    si.cpuTemperature().catch(() => ({ main: null })),
    si.mem(),
    readFile(THROTTLED, 'utf8').then(
      (t) => t.trim(),
      () => null,
    ),
  ]);
  const usage = process.memoryUsage();
  const value: SystemHealth = {
    cpuTemperatureC: typeof temperature.main === 'number' ? temperature.main : null,
    throttled: throttled === null ? null : `0x${Number.parseInt(throttled, 16).toString(16)}`,
    load: loadavg() as [number, number, number],
    memory: { totalBytes: mem.total, availableBytes: mem.available, processRssBytes: usage.rss, heapUsedBytes: usage.heapUsed },
  };
  cached = { at: now, value };
  return value;
}
