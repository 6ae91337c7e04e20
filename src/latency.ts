/**
 * Exact-to-the-millisecond latency percentiles for the summary line (and so the benchmark): one counter
 * per millisecond up to a minute, the rest counted at the top. The Prometheus histogram has too few
 * buckets for a p99 worth quoting.
 */
const MAX_MS = 60_000;

export class LatencyRecorder {
  private readonly counts = new Uint32Array(MAX_MS + 1);
  private n = 0;
  private maxMs = 0;

  record(ms: number): void {
    const i = ms < 0 ? 0 : ms > MAX_MS ? MAX_MS : Math.round(ms);
    this.counts[i]!++;
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.n;
  }

  get max(): number {
    return this.maxMs;
  }

  /** The smallest latency that q of the recorded values do not exceed (q in 0..1). */
  percentile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i <= MAX_MS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i;
    }
    return MAX_MS;
  }
}
