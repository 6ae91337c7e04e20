/**
 * End-to-end latency, recorded once per event: one counter per millisecond up to a minute (the rest
 * counted at the top). It gives the summary line (and so the benchmark) exact percentiles, and it is
 * the Prometheus histogram events_end_to_end_latency_seconds, its buckets summed at scrape time.
 *
 * Why not prom-client's Histogram: its observe() hashes labels and searches buckets per call, which
 * at one call per event was 6 % of the pipeline's CPU; here recording is an array increment.
 */
const MAX_MS = 60_000;

export class LatencyRecorder {
  private readonly counts = new Uint32Array(MAX_MS + 1);
  private n = 0;
  private sumMs = 0;
  private over = 0; // above MAX_MS (counted in counts[MAX_MS] too, for the percentiles)
  private maxMs = 0;

  record(ms: number): void {
    const i = ms < 0 ? 0 : ms > MAX_MS ? MAX_MS : Math.round(ms);
    this.counts[i]!++;
    this.n++;
    this.sumMs += ms;
    if (ms > MAX_MS) this.over++;
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

  /** How many recorded values are at most boundsMs[i], for ascending bounds. */
  cumulative(boundsMs: readonly number[]): number[] {
    const out: number[] = [];
    let seen = 0;
    let i = 0;
    for (const bound of boundsMs) {
      const last = Math.min(MAX_MS, Math.floor(bound));
      for (; i <= last; i++) seen += this.counts[i]!;
      out.push(bound >= MAX_MS ? seen - this.over : seen);
    }
    return out;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = this.sumMs = this.over = this.maxMs = 0;
  }

  /** This recorder as a Prometheus histogram in seconds, in the shape prom-client's Registry reads. */
  histogram(name: string, help: string, bucketsSec: readonly number[]) {
    const self = this;
    return {
      name, help, type: "histogram" as const, aggregator: "sum" as const,
      async get() {
        const counts = self.cumulative(bucketsSec.map((b) => b * 1000));
        return {
          name, help, type: "histogram" as const, aggregator: "sum" as const,
          values: [
            ...bucketsSec.map((le, i) => ({ labels: { le }, value: counts[i]!, metricName: `${name}_bucket` })),
            { labels: { le: "+Inf" }, value: self.n, metricName: `${name}_bucket` },
            { labels: {}, value: self.sumMs / 1000, metricName: `${name}_sum` },
            { labels: {}, value: self.n, metricName: `${name}_count` },
          ],
        };
      },
      reset: () => self.reset(),
    };
  }
}
