/**
 * Sink: StoredEvents → Cassandra `user_events`, through prepared statements that work on the seed's exact
 * table too, with bounded concurrency.
 *
 * Statements (statementsFor): an INSERT that names a non-frozen map column first deletes whatever the map
 * held, which Cassandra writes as a tombstone in the row, for every row (an empty map is that deletion alone). So by default
 * (SINK_WRITE=append) a row with metadata is written as `UPDATE … SET metadata = metadata + ?` (its cells,
 * no tombstone; the row exists through them) and a row without as an INSERT of its key columns (a row marker,
 * no map). Both are idempotent: a replay writes the same cells. SINK_WRITE=insert keeps the seed's INSERT.
 * EVENT_TTL adds `USING TTL`.
 *
 * Rows are grouped by the set of replicas that own their partition and sent as small UNLOGGED batches (at
 * most SINK_BATCH_ROWS rows and 16 KiB, and under the cluster's batch warn thresholds: batchLimits). The
 * driver sends a batch to a replica of its first row, which is then a replica of every row in it: one request
 * instead of dozens, without the coordinator fan-out that makes cross-partition batches an anti-pattern
 * (events_sink_batches_total{coordinator} counts what the driver did). Grouping by the first replica alone
 * was not enough: the driver picks any of the first row's replicas, and the second need not own the others. An unlogged batch is not
 * atomic, and need not be: every INSERT is idempotent.
 *
 * What an error means is the failure policy's (src/common/failure.ts): outages are waited out with capped
 * exponential backoff until the write succeeds or the caller aborts (shutdown, or the partition was
 * revoked); a row Cassandra refuses for itself (an invalid value) is handed back to the caller, which
 * dead-letters it; a wrong deployment (permission, missing table, an encoding bug) throws Stop.
 */
import cassandra from "cassandra-driver";
import { type CassandraSettings, cassandraClient, describeCassandraError, unpreparedCause } from "./client.ts";
import type { Config } from "../cli/config.ts";
import { type BatchLimits, batchLimits } from "./batch-limits.ts";
import type { StoredEvent } from "../codec/event.ts";
import { log } from "../common/log.ts";
import { metrics } from "../status/metrics.ts";
import { Aborted, backoff, sleep } from "../common/retry.ts";
import { decide } from "../common/failure.ts";
import { BUCKET_TABLES, type Bucket, bucketBytes, dateBytes, RowWriter, rowBytes, writeUuid } from "../codec/row.ts";

export interface Statements {
  /** The statement and its values for one row; `values` are RowWriter.values(e). */
  of(values: Buffer[]): { query: string; params: Buffer[] };
}

/** The statements of a write mode and TTL (seconds; 0: none). */
export function statementsFor(mode: "append" | "insert", ttlSeconds: number, bucket: Bucket = "day"): Statements {
  const ttl = ttlSeconds > 0 ? ` USING TTL ${ttlSeconds}` : "";
  const { table, column } = BUCKET_TABLES[bucket];
  const insert = `INSERT INTO ${table} (user_id, ${column}, event_time, event_type, event_id, metadata) VALUES (?, ?, ?, ?, ?, ?)${ttl}`;
  if (mode === "insert") return { of: (params) => ({ query: insert, params }) };
  const key = `INSERT INTO ${table} (user_id, ${column}, event_time, event_type, event_id) VALUES (?, ?, ?, ?, ?)${ttl}`;
  const append = `UPDATE ${table}${ttl} SET metadata = metadata + ? WHERE user_id = ? AND ${column} = ? AND event_time = ? AND event_type = ? AND event_id = ?`;
  return {
    of(v) {
      // v[5] is the serialized map: an int32 entry count, then the entries.
      if (v[5]!.readInt32BE(0) === 0) return { query: key, params: v.slice(0, 5) };
      return { query: append, params: [v[5]!, v[0]!, v[1]!, v[2]!, v[3]!, v[4]!] };
    },
  };
}
export interface Rejected {
  event: StoredEvent;
  detail: string;
}

export type SinkSettings = CassandraSettings & Pick<Config, "keyspace" | "writeConcurrency" | "batchRows" | "sinkWrite" | "eventTtl" | "consistency" | "bucket">;

const { consistencies: cl } = cassandra.types;
const CONSISTENCY: Record<Config["consistency"], number> = {
  local_quorum: cl.localQuorum, quorum: cl.quorum, each_quorum: cl.eachQuorum, all: cl.all, local_one: cl.localOne, one: cl.one, two: cl.two, three: cl.three,
};

export class CassandraSink {
  private active = 0;
  private readonly waiting: ((w: RowWriter) => void)[] = [];
  private readonly idle: RowWriter[] = [];
  private readonly options: cassandra.QueryOptions;
  private readonly batchOptions: cassandra.QueryOptions;
  private readonly statements: Statements;
  private readonly replicaKeys = new WeakMap<object, string>();

  private constructor(
    readonly client: cassandra.Client,
    private readonly cfg: SinkSettings,
    readonly limits: BatchLimits,
  ) {
    this.options = {
      prepare: true,
      // Replaying a write writes the same cells: safe for the driver to retry and speculate.
      isIdempotent: true,
      consistency: CONSISTENCY[cfg.consistency],
    };
    this.batchOptions = { ...this.options, logged: false };
    this.statements = statementsFor(cfg.sinkWrite, Math.round(cfg.eventTtl / 1000), cfg.bucket);
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
    const name = BUCKET_TABLES[cfg.bucket].table;
    const table = client.metadata.keyspaces[cfg.keyspace] ? await client.metadata.getTable(cfg.keyspace, name) : null;
    if (!table) {
      await client.shutdown().catch(() => {});
      throw new Error(`table ${cfg.keyspace}.${name} does not exist: run \`events migrate\` first${cfg.bucket === "hour" ? " (with BUCKET=hour)" : ""}`);
    }
    // A batch over a warn threshold is written all the same, but every one logs a warning on the
    // coordinator: with Cassandra's defaults (5 KiB, 10 partitions) that was nearly every batch.
    const settings = await client
      .execute("SELECT name, value FROM system_views.settings WHERE name IN ('batch_size_warn_threshold', 'batch_size_warn_threshold_in_kb', 'unlogged_batch_across_partitions_warn_threshold')")
      .then((r) => r.rows.map((row) => ({ name: String(row.name), value: row.value as string | null })))
      .catch(() => []);
    const { from, ...limits } = batchLimits(settings, cfg.batchRows);
    if (cfg.batchRows > 1) log.info({ ...limits, from }, "sink batches");
    return new CassandraSink(client, cfg, limits);
  }

  /**
   * Write every event; resolves when all are acknowledged. Returns the rows Cassandra refused outright.
   * Throws Aborted (and leaves the rest unwritten) when the signal fires.
   */
  async write(events: StoredEvent[], signal: AbortSignal): Promise<Rejected[]> {
    const rejected: Rejected[] = [];
    await Promise.all(this.batches(events).map((b) => this.writeBatch(b.rows, signal, rejected, b.replicas)));
    return rejected;
  }

  /** Group rows by the replicas that own their partition, then cut each group into bounded batches. */
  private batches(events: StoredEvent[]): { rows: StoredEvent[]; replicas: string | null }[] {
    const byReplicas = new Map<string, StoredEvent[]>();
    // With one node every row has the same replica: skip the token computation.
    const oneNode = this.client.hosts.length <= 1;
    for (const e of events) {
      const key = oneNode ? "" : this.replicasOf(e);
      let group = byReplicas.get(key);
      if (!group) byReplicas.set(key, (group = []));
      group.push(e);
    }
    const out: { rows: StoredEvent[]; replicas: string | null }[] = [];
    for (const [key, group] of byReplicas) {
      const replicas = key || null;
      let batch: StoredEvent[] = [];
      let bytes = 0;
      for (const e of group) {
        const size = rowBytes(e);
        if (batch.length && (batch.length >= this.limits.rows || bytes + size > this.limits.bytes)) {
          out.push({ rows: batch, replicas });
          batch = [];
          bytes = 0;
        }
        batch.push(e);
        bytes += size;
      }
      if (batch.length) out.push({ rows: batch, replicas });
    }
    return out;
  }

  /**
   * The addresses of the replicas of the row's partition (user_id, bucket_date), sorted, comma-separated. The
   * driver returns one array per token range, kept in its metadata: its key is made once per array, not per row.
   */
  private replicasOf(e: StoredEvent): string {
    const replicas = this.client.metadata.getReplicas(this.cfg.keyspace, partitionKey(e.userId, bucketBytes(this.cfg.bucket, e)));
    if (!replicas?.length) return "";
    let key = this.replicaKeys.get(replicas);
    if (key === undefined) this.replicaKeys.set(replicas, (key = replicas.map((h) => h.address).sort().join(",")));
    return key;
  }

  private async writeBatch(rows: StoredEvent[], signal: AbortSignal, rejected: Rejected[], replicas: string | null = null): Promise<void> {
    let writer = await this.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) throw new Aborted();
        const t0 = performance.now();
        writer.reset(); // this slot's previous request is acknowledged: its buffer is free again
        try {
          let rs: cassandra.types.ResultSet;
          if (rows.length === 1) {
            const { query, params } = this.statements.of(writer.values(rows[0]!));
            rs = await this.client.execute(query, params, this.options);
          } else {
            rs = await this.client.batch(rows.map((e) => this.statements.of(writer.values(e))), this.batchOptions);
          }
          const coordinator = replicas === null ? "unknown" : replicas.split(",").includes(rs.info.queriedHost) ? "replica" : "not_replica";
          metrics.batches.inc({ coordinator });
          metrics.writeSeconds.observe((performance.now() - t0) / 1000);
          return;
        } catch (thrown) {
          // The failed request may still sit in the driver's write queue (cancelled, but let us not
          // depend on that): its bytes are never reused.
          writer = new RowWriter(undefined, this.cfg.bucket);
          const err = await unpreparedCause(this.client, this.cfg.keyspace, BUCKET_TABLES[this.cfg.bucket].table, thrown);
          // Stop (a wrong deployment) is thrown from here: the chunk fails, nothing past it is committed.
          if (decide("cassandra", err) === "reject") {
            if (rows.length === 1) {
              rejected.push({ event: rows[0]!, detail: (err as Error).message });
              return;
            }
            // Find the row(s) Cassandra refuses: write them one by one (outside this slot).
            this.release(writer);
            try {
              await Promise.all(rows.map((e) => this.writeBatch([e], signal, rejected)));
            } finally {
              writer = await this.acquire();
            }
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
      this.release(writer);
    }
  }

  /** The consistency level writes use (CASSANDRA_CONSISTENCY), for the window results too. */
  get consistency(): number {
    return this.options.consistency!;
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

  /** A write slot, and its buffer for serializing rows (see src/codec/row.ts). */
  private acquire(): Promise<RowWriter> {
    if (this.active < this.cfg.writeConcurrency) {
      this.active++;
      return Promise.resolve(this.idle.pop() ?? new RowWriter(undefined, this.cfg.bucket));
    }
    return new Promise((r) => this.waiting.push(r));
  }

  private release(writer: RowWriter): void {
    const next = this.waiting.shift();
    if (next) next(writer);
    else {
      this.active--;
      this.idle.push(writer);
    }
  }
}

/**
 * The serialized partition key (user_id, bucket_date or bucket_hour), as Cassandra hashes it for a composite
 * key: each component as a 2-byte length, its bytes and a 0 byte.
 */
export function partitionKey(userId: string, bucket: string | Buffer): Buffer {
  const b = typeof bucket === "string" ? dateBytes(bucket) : bucket;
  const out = Buffer.allocUnsafe(2 + 16 + 1 + 2 + b.length + 1);
  out.writeUInt16BE(16, 0);
  writeUuid(out, 2, userId);
  out[18] = 0;
  out.writeUInt16BE(b.length, 19);
  b.copy(out, 21);
  out[21 + b.length] = 0;
  return out;
}
