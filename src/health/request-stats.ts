/**
 * Request counters: totals by method and status (for /metrics), a
 * one-minute window by status (for /status's "recent rates"), and an hour of
 * per-minute counts by status (the console's chart).
 */
export interface MinuteCounts {
  /** Start of the minute, ms. */
  at: number;
  byStatus: Record<string, number>;
}

const HOUR_MINUTES = 60;

export class RequestStats {
  readonly totals = new Map<string, number>(); // "METHOD status" → count
  uploadBytes = 0;
  readonly #window: { second: number; byStatus: Map<number, number> }[] = [];
  readonly #minutes: { minute: number; byStatus: Map<number, number> }[] = [];

  record(method: string, status: number, bytesIn: number | undefined, now = Date.now()): void {
    const key = `${method} ${status}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    if (bytesIn) this.uploadBytes += bytesIn;
    count(this.#window, 'second', Math.floor(now / 1000), 60, status);
    count(this.#minutes, 'minute', Math.floor(now / 60_000), HOUR_MINUTES, status);
  }

  /** Requests per second by status over the last minute. */
  recentRates(now = Date.now()): Record<string, number> {
    const since = Math.floor(now / 1000) - 60;
    const sums: Record<string, number> = {};
    for (const slot of this.#window) {
      if (slot.second <= since) continue;
      for (const [status, n] of slot.byStatus) sums[status] = (sums[status] ?? 0) + n;
    }
    for (const status of Object.keys(sums)) sums[status] = Math.round((sums[status]! / 60) * 100) / 100;
    return sums;
  }

  /** Requests per minute by status over the last hour, oldest first; quiet minutes are zeros. */
  lastHour(now = Date.now()): MinuteCounts[] {
    const current = Math.floor(now / 60_000);
    const seen = new Map(this.#minutes.map((m) => [m.minute, m.byStatus]));
    const out: MinuteCounts[] = [];
    for (let minute = current - HOUR_MINUTES + 1; minute <= current; minute++) {
      out.push({ at: minute * 60_000, byStatus: Object.fromEntries(seen.get(minute) ?? []) });
    }
    return out;
  }

  /** Answers with this status since the start. */
  totalWithStatus(status: number): number {
    let n = 0;
    for (const [key, count] of this.totals) if (key.endsWith(` ${status}`)) n += count;
    return n;
  }
}

/** Adds one to `status` in the slot for `at`, dropping slots older than `keep`. */
function count<K extends 'second' | 'minute'>(slots: ({ [P in K]: number } & { byStatus: Map<number, number> })[], unit: K, at: number, keep: number, status: number): void {
  let slot = slots.at(-1);
  if (!slot || slot[unit] !== at) {
    slot = { [unit]: at, byStatus: new Map() } as { [P in K]: number } & { byStatus: Map<number, number> };
    slots.push(slot);
    while (slots.length > 0 && slots[0]![unit] <= at - keep) slots.shift();
  }
  slot.byStatus.set(status, (slot.byStatus.get(status) ?? 0) + 1);
}
