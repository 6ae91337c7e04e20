/**
 * The read API, on the status server's port and behind its token (server.ts), JSON:
 *
 *   GET /v1/users/{user_id}/events?date=YYYY-MM-DD[&type=T][&limit=100][&page=TOKEN]
 *       one user's events of one UTC day, newest first, paged with Cassandra's paging state (`next`); with
 *       BUCKET=hour, from the day's 24 hour partitions, newest first
 *   GET /v1/counts?from=ISO&to=ISO[&type=T]
 *       window results (event_windows) summed over the Kafka partitions, per window and type
 *
 * Bounded: limit 1..1000 (default 100); a counts range of at most 48 hours. A bad parameter is a 400 with the
 * reason. The parameter checks are pure (unit-tested); the queries are one partition each.
 */
import type cassandra from "cassandra-driver";
import { Hono } from "hono";
import { uuidCase } from "../codec/rules.ts";
import { utcDate } from "../cassandra/windows.ts";
import { BUCKET_TABLES, type Bucket } from "../codec/row.ts";

export const LIMIT_MAX = 1000;
export const COUNTS_RANGE_MAX_MS = 48 * 3_600_000;

export class BadParameter extends Error {}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
function isDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}
function instant(name: string, raw: string | undefined): number {
  if (!raw) throw new BadParameter(`${name} is required: an ISO 8601 instant like 2026-12-04T10:00:00Z`);
  // Date.parse takes much that is not ISO 8601; ask for the date part at least.
  const t = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(t)) throw new BadParameter(`${name} is not an ISO 8601 instant: ${JSON.stringify(raw)}`);
  return t;
}
function eventType(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!raw || raw.length > 64) throw new BadParameter("type must be 1 to 64 characters");
  return raw;
}

export interface EventsQuery { userId: string; date: string; type?: string; limit: number; page?: Buffer }

export function eventsQuery(userId: string, q: Record<string, string | undefined>): EventsQuery {
  const c = uuidCase(userId);
  if (!c) throw new BadParameter(`user_id is not a UUID: ${JSON.stringify(userId)}`);
  if (!q.date || !isDate(q.date)) throw new BadParameter("date is required: a UTC date like 2026-12-04");
  let limit = 100;
  if (q.limit !== undefined) {
    limit = Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > LIMIT_MAX) throw new BadParameter(`limit must be an integer from 1 to ${LIMIT_MAX}`);
  }
  let page: Buffer | undefined;
  if (q.page !== undefined) {
    page = Buffer.from(q.page, "base64url");
    if (!q.page || page.length === 0 || page.toString("base64url") !== q.page) throw new BadParameter("page is not a token this API gave");
  }
  return { userId: c === 3 ? userId.toLowerCase() : userId, date: q.date, type: eventType(q.type), limit, page };
}

export interface CountsQuery { from: number; to: number; type?: string }

export function countsQuery(q: Record<string, string | undefined>): CountsQuery {
  const from = instant("from", q.from), to = instant("to", q.to);
  if (to <= from) throw new BadParameter("to must be after from");
  if (to - from > COUNTS_RANGE_MAX_MS) throw new BadParameter(`the range is at most ${COUNTS_RANGE_MAX_MS / 3_600_000} hours`);
  return { from, to, type: eventType(q.type) };
}

/** The UTC dates [from, to) touches. */
export function datesOf(from: number, to: number): string[] {
  const out: string[] = [];
  for (let d = Date.parse(`${new Date(from).toISOString().slice(0, 10)}T00:00:00Z`); d < to; d += 86_400_000) out.push(new Date(d).toISOString().slice(0, 10));
  return out;
}

export function readApi(client: cassandra.Client, windowMs: number, bucket: Bucket): Hono {
  const api = new Hono();
  api.onError((e, c) => (e instanceof BadParameter ? c.json({ error: e.message }, 400) : c.json({ error: `cannot read: ${e.message}` }, 503)));

  api.get("/v1/users/:userId/events", async (c) => {
    const q = eventsQuery(c.req.param("userId"), c.req.query());
    const { table, column } = BUCKET_TABLES[bucket];
    const cql = `SELECT event_time, event_type, event_id, metadata FROM ${table} WHERE user_id = ? AND ${column} = ?${q.type ? " AND event_type = ? ALLOW FILTERING" : ""}`;
    // The page token: one byte, the bucket it is in (the hour, 23 down to 0; 0 with day buckets), then Cassandra's
    // paging state in it. A day of hour buckets is read newest hour first, a page spanning hours as needed.
    const day = Date.parse(`${q.date}T00:00:00Z`);
    let at = q.page ? q.page[0]! : bucket === "hour" ? 23 : 0;
    if (at > 23) throw new BadParameter("page is not a token this API gave");
    let state = q.page && q.page.length > 1 ? q.page.subarray(1).toString("hex") : undefined;
    const events: { eventTime: string; eventType: string; eventId: string; metadata: Record<string, string> }[] = [];
    let next: string | null = null;
    for (;;) {
      const key = bucket === "hour" ? new Date(day + at * 3_600_000) : q.date;
      const rs = await client.execute(cql, [q.userId, key, ...(q.type ? [q.type] : [])], { prepare: true, fetchSize: q.limit - events.length, pageState: state });
      for (const r of rs.rows) {
        events.push({ eventTime: (r.event_time as Date).toISOString(), eventType: r.event_type as string, eventId: String(r.event_id), metadata: r.metadata ?? {} });
      }
      if (rs.pageState) {
        next = Buffer.concat([Buffer.from([at]), Buffer.from(rs.pageState, "hex")]).toString("base64url");
        break;
      }
      if (bucket === "day" || at === 0) break;
      at--;
      state = undefined;
      if (events.length >= q.limit) {
        next = Buffer.from([at]).toString("base64url");
        break;
      }
    }
    return c.json({ userId: q.userId, date: q.date, events, next });
  });

  api.get("/v1/counts", async (c) => {
    const q = countsQuery(c.req.query());
    const sums = new Map<string, { start: number; type: string; events: number; users: number; late: number; closed: boolean }>();
    for (const date of datesOf(q.from, q.to)) {
      const cql = "SELECT window_start, event_type, events, users, closed, late_offsets FROM event_windows WHERE window_date = ? AND window_ms = ?" +
        (q.type ? " AND event_type = ? AND window_start >= ? AND window_start < ?" : "");
      const params: unknown[] = [utcDate(Date.parse(`${date}T00:00:00Z`)), windowMs, ...(q.type ? [q.type, new Date(q.from), new Date(q.to)] : [])];
      // A day of one window size is one partition; its rows are paged through, never held at once by Cassandra.
      for await (const r of client.stream(cql, params, { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<cassandra.types.Row>) {
        const start = (r.window_start as Date).getTime();
        if (start < q.from || start >= q.to) continue;
        const key = `${start}/${r.event_type}`;
        const s = sums.get(key) ?? { start, type: r.event_type as string, events: 0, users: 0, late: 0, closed: true };
        sums.set(key, s);
        s.events += Number(r.events ?? 0);
        s.users += Number(r.users ?? 0);
        s.late += (r.late_offsets as unknown[] | null)?.length ?? 0;
        if (r.events !== null) s.closed &&= r.closed === true;
      }
    }
    const windows = [...sums.values()].sort((a, b) => a.start - b.start || a.type.localeCompare(b.type)).map((s) => ({
      start: new Date(s.start).toISOString(), end: new Date(s.start + windowMs).toISOString(), type: s.type,
      events: s.events, users: s.users, late: s.late, closed: s.closed,
    }));
    return c.json({ windowMs, from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString(), windows });
  });
  return api;
}
