/**
 * Window results → Cassandra `event_windows` (cql/schema.cql): one row per window, event type and Kafka
 * partition, written by upsert (a window that fires again overwrites itself), and the offsets of events too
 * late for a window added to its row's set (idempotent on replay). All of one UTC day is one Cassandra
 * partition, so a firing is one unlogged batch per day: a single mutation.
 *
 * Errors follow the failure policy (src/common/failure.ts) like the event rows: outages are waited out with
 * backoff, a wrong deployment (a missing table: run `events migrate`) stops the process. A window row is never
 * bad input, so whatever Cassandra refuses about it stops too.
 */
import cassandra from "cassandra-driver";
import { decide, Stop } from "../common/failure.ts";
import { backoff, sleep, Aborted } from "../common/retry.ts";
import { log } from "../common/log.ts";
import { unpreparedCause } from "./client.ts";
import type { Firing } from "../windows/operator.ts";

const INSERT = "INSERT INTO event_windows (window_date, window_ms, event_type, window_start, kafka_partition, events, users, closed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const LATE = "UPDATE event_windows SET late_offsets = late_offsets + ? WHERE window_date = ? AND window_ms = ? AND event_type = ? AND window_start = ? AND kafka_partition = ?";

/** The UTC date of an instant, as the driver's LocalDate. */
export const utcDate = (ms: number) => cassandra.types.LocalDate.fromString(new Date(ms).toISOString().slice(0, 10));

export class WindowStore {
  private readonly options: cassandra.QueryOptions;

  constructor(
    private readonly client: cassandra.Client,
    private readonly keyspace: string,
    private readonly sizeMs: number,
    consistency: number,
  ) {
    this.options = { prepare: true, isIdempotent: true, consistency, logged: false };
  }

  /** Check at start-up that the table exists (a keyspace migrated before windows existed lacks it). */
  async check(): Promise<void> {
    if (!(await this.client.metadata.getTable(this.keyspace, "event_windows"))) {
      throw new Error(`table ${this.keyspace}.event_windows does not exist: run \`events migrate\` (or set WINDOWS=off)`);
    }
  }

  /** Write a firing of one source partition; resolves when acknowledged, throws Stop or Aborted. */
  async write(partition: number, firing: Firing, signal: AbortSignal): Promise<void> {
    if (!firing.results.length && !firing.tooLate.length) return;
    const byDay = new Map<string, { query: string; params: unknown[] }[]>();
    const add = (start: number, q: { query: string; params: unknown[] }) => {
      const day = new Date(start).toISOString().slice(0, 10);
      byDay.get(day)?.push(q) ?? byDay.set(day, [q]);
    };
    for (const r of firing.results) {
      add(r.start, { query: INSERT, params: [utcDate(r.start), this.sizeMs, r.eventType, new Date(r.start), partition, r.events, r.users, r.final] });
    }
    const late = new Map<string, { start: number; eventType: string; offsets: number[] }>();
    for (const t of firing.tooLate) {
      const k = `${t.start}/${t.eventType}`;
      late.get(k)?.offsets.push(t.offset) ?? late.set(k, { start: t.start, eventType: t.eventType, offsets: [t.offset] });
    }
    for (const l of late.values()) {
      add(l.start, { query: LATE, params: [l.offsets, utcDate(l.start), this.sizeMs, l.eventType, new Date(l.start), partition] });
    }
    await Promise.all([...byDay.values()].map((queries) => this.batch(queries, signal)));
  }

  private async batch(queries: { query: string; params: unknown[] }[], signal: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new Aborted();
      try {
        await this.client.batch(queries, this.options);
        return;
      } catch (thrown) {
        const err = await unpreparedCause(this.client, this.keyspace, "event_windows", thrown);
        if (decide("cassandra", err) === "reject") throw new Stop(`cassandra: refused a window result (${(err as Error).message}): a bug, report it with this line`);
        if (attempt === 0 || attempt % 20 === 0) log.warn({ err: (err as Error).message, attempt }, "window results write failed; retrying (nothing is skipped)");
        await sleep(backoff(attempt), signal);
      }
    }
  }
}
