/**
 * Request counters: totals by method and status (for /metrics) and a
 * one-minute window by status (for /status's "recent rates").
 */
export class RequestStats {
  readonly totals = new Map<string, number>(); // "METHOD status" → count
  uploadBytes = 0;
  readonly #window: { second: number; byStatus: Map<number, number> }[] = [];

  record(method: string, status: number, bytesIn: number | undefined, now = Date.now()): void {
    const key = `${method} ${status}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    if (bytesIn) this.uploadBytes += bytesIn;
    const second = Math.floor(now / 1000);
    let slot = this.#window.at(-1);
    if (!slot || slot.second !== second) {
      slot = { second, byStatus: new Map() };
      this.#window.push(slot);
      while (this.#window.length > 0 && this.#window[0]!.second <= second - 60) this.#window.shift();
    }
    slot.byStatus.set(status, (slot.byStatus.get(status) ?? 0) + 1);
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
}
