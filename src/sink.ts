/**
 * Sink: StoredEvents → Cassandra `user_events`, through one prepared INSERT (the same statement works on
 * the seed's exact table), with bounded concurrency.
 *
 * Outages are waited out, never skipped: timeouts, unavailable/overloaded replicas and unreachable
 * nodes are retried with capped exponential backoff until the write succeeds or the caller aborts
 * (shutdown, or the partition was revoked). A row Cassandra refuses for itself (an invalid value) is
 * handed back to the caller, which dead-letters it.
 */
import cassandra from "cassandra-driver";
import { type CassandraSettings, cassandraClient, describeCassandraError } from "./cassandra.ts";
import type { Config } from "./config.ts";
import type { StoredEvent } from "./event.ts";
import { log } from "./log.ts";
import { metrics } from "./metrics.ts";
import { Aborted, backoff, sleep } from "./retry.ts";

const INSERT = "INSERT INTO user_events (user_id, bucket_date, event_time, event_type, event_id, metadata) VALUES (?, ?, ?, ?, ?, ?)";
const { responseErrorCodes: codes } = cassandra.types;

export interface Rejected {
  event: StoredEvent;
  detail: string;
}

export type SinkSettings = CassandraSettings & Pick<Config, "keyspace" | "writeConcurrency">;

export class CassandraSink {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly options: cassandra.QueryOptions;

  private constructor(
    readonly client: cassandra.Client,
    private readonly concurrency: number,
  ) {
    this.options = {
      prepare: true,
      // Replaying an INSERT writes the same cells: safe for the driver to retry and speculate.
      isIdempotent: true,
      consistency: cassandra.types.consistencies.localQuorum,
    };
  }

  /** Connect and check the table exists, with an error a person can act on. */
  static async open(cfg: SinkSettings): Promise<CassandraSink> {
    const client = cassandraClient(cfg, cfg.keyspace);
    try {
      await client.connect();
    } catch (e) {
      await client.shutdown().catch(() => {});
      const msg = describeCassandraError(e, cfg);
      if (/Keyspace .* does not exist/i.test(msg)) throw new Error(`keyspace "${cfg.keyspace}" does not exist: run \`events migrate\` first`);
      throw new Error(msg);
    }
    const table = client.metadata.keyspaces[cfg.keyspace] ? await client.metadata.getTable(cfg.keyspace, "user_events") : null;
    if (!table) {
      await client.shutdown().catch(() => {});
      throw new Error(`table ${cfg.keyspace}.user_events does not exist: run \`events migrate\` first`);
    }
    return new CassandraSink(client, cfg.writeConcurrency);
  }

  /**
   * Write every event; resolves when all are acknowledged. Returns the rows Cassandra refused outright.
   * Throws Aborted (and leaves the rest unwritten) when the signal fires.
   */
  async write(events: StoredEvent[], signal: AbortSignal): Promise<Rejected[]> {
    const rejected: Rejected[] = [];
    await Promise.all(events.map((e) => this.writeOne(e, signal, rejected)));
    return rejected;
  }

  private async writeOne(e: StoredEvent, signal: AbortSignal, rejected: Rejected[]): Promise<void> {
    await this.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) throw new Aborted();
        const t0 = performance.now();
        try {
          await this.client.execute(INSERT, [e.userId, e.bucketDate, e.eventTime, e.eventType, e.eventId, e.metadata], this.options);
          metrics.writeSeconds.observe((performance.now() - t0) / 1000);
          return;
        } catch (err) {
          if (!retriable(err)) {
            rejected.push({ event: e, detail: (err as Error).message });
            return;
          }
          metrics.retries.inc();
          if (attempt === 0 || attempt % 20 === 0) {
            log.warn({ err: (err as Error).message, attempt }, "Cassandra write failed; retrying (nothing is skipped)");
          }
          await sleep(backoff(attempt), signal);
        }
      }
    } finally {
      this.release();
    }
  }

  /** For readiness: does Cassandra answer a trivial query within a second? */
  async ping(): Promise<boolean> {
    try {
      await this.client.execute("SELECT release_version FROM system.local", [], { readTimeout: 1000, isIdempotent: true });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.client.shutdown().catch(() => {});
  }

  private acquire(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiting.push(r));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/** Whether an error is about Cassandra's availability (wait and retry) rather than about the row. */
export function retriable(err: unknown): boolean {
  if (err instanceof cassandra.errors.ResponseError) {
    switch (err.code) {
      case codes.invalid:
        // A missing table or keyspace is an operator's problem, not the row's: wait for it.
        return /unconfigured table|does not exist/i.test(err.message);
      case codes.syntaxError:
      case codes.unauthorized:
      case codes.configError:
      case codes.alreadyExists:
        return false;
      default: // unavailable, overloaded, bootstrapping, write/read timeouts, server errors, truncate
        return true;
    }
  }
  // Encoding errors mean a value the validation should have caught: the row itself is bad.
  if (err instanceof TypeError || err instanceof RangeError) return false;
  return true; // NoHostAvailable, OperationTimedOut, connection resets, busy connections
}
