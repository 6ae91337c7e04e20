/**
 * Event-time windows on the real stack, through the compiled binary: 100,000 events with 90 s of jitter and 1 %
 * sent 3 minutes late, a SIGKILL and a restart in the middle, a second consumer joining. Every closed window's
 * stored result must equal what the test computes itself, from the events in each partition's order, and what
 * the stored user_events rows give; the too-late events must be exactly the ones recorded.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encode } from "../../src/codec/encode.ts";
import { committedTotal, isolatedPipeline, makeEvents, produce, readRows, type Running, start, type TestEvent, until } from "../helpers/events.ts";
import { cassandraClient, HOOK_TIMEOUT, requireStack } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
const running: Running[] = [];
afterAll(async () => {
  for (const r of running) r.proc.kill("SIGKILL");
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

const SIZE = 60_000, BOUND = 120_000, LATENESS = 0, PARTITIONS = 3;
/** Keyed by user, as a producer keyed by user_id would be: a user's events are in one partition. */
const partitionOf = (e: TestEvent) => Number.parseInt(e.user_id.slice(0, 8), 16) % PARTITIONS;

/** The test's own computation, per partition in offset order: Flink's rules, written out plainly. */
function expected(events: TestEvent[]) {
  const windows = new Map<string, { partition: number; start: number; type: string; events: number; users: Set<string> }>();
  const tooLate = new Set<string>(); // event ids
  const maxOf = new Map<number, number>();
  const offsets = new Map<string, string>(); // `${partition}/${offset}` → event id
  const next = [0, 0, 0];
  for (const e of events) {
    const p = partitionOf(e);
    offsets.set(`${p}/${next[p]!++}`, e.event_id);
    const max = maxOf.get(p);
    const wm = max === undefined ? -Infinity : max - BOUND - 1;
    const start = e.event_time - (e.event_time % SIZE);
    if (start + SIZE - 1 + LATENESS <= wm) {
      tooLate.add(e.event_id);
      continue;
    }
    const k = `${p}/${start}/${e.event_type}`;
    const w = windows.get(k) ?? { partition: p, start, type: e.event_type, events: 0, users: new Set<string>() };
    windows.set(k, w);
    w.events++;
    w.users.add(e.user_id);
    if (max === undefined || e.event_time > max) maxOf.set(p, e.event_time);
  }
  const closed = (p: number, start: number) => start + SIZE - 1 + LATENESS <= maxOf.get(p)! - BOUND - 1;
  return { windows, tooLate, closed, offsets };
}

test("100,000 events, 90 s of jitter, 1 % three minutes late, a SIGKILL, a restart and a second consumer: every closed window as computed from scratch; too-late events exactly", async () => {
  const p = await isolatedPipeline("it-windows");
  drops.push(p.drop);
  const N = 100_000;
  // 20 minutes of event time ending 2 minutes ago; every 100th event is sent 3 minutes after its time.
  const events = makeEvents(N, { seed: 41, start: Date.now() - 22 * 60_000, stepMs: (20 * 60_000) / N, jitterMs: 90_000, users: 2000 })
    .map((e, i) => (i % 100 === 37 ? { ...e, event_time: e.event_time - 180_000 } : e));
  const records = events.map((e) => ({ key: e.user_id, value: encode(e, "avro"), partition: partitionOf(e) }));
  const half = 60_000;
  await produce(p.topic, records.slice(0, half));

  const env = { ...p.env, WINDOWS: "on", WINDOW_SIZE: "1m", WINDOW_ALLOWED_LATENESS: "0", WATERMARK_OUT_OF_ORDERNESS: "2m" };
  const written = async (r: Running) => ((await r.status().catch(() => ({ written: 0 }))).written as number) ?? 0;
  const first = start("binary", ["consume"], env);
  running.push(first);
  await until("the first consumer to write 25,000 events", async () => (await written(first)) >= 25_000, 60_000, 10);
  first.proc.kill("SIGKILL");
  await first.exited;
  const second = start("binary", ["consume"], env);
  running.push(second);
  await until("the restarted consumer to write 10,000 events", async () => (await written(second)) >= 10_000, 60_000, 20);
  const third = start("binary", ["consume"], env);
  running.push(third);
  const partitionsOf = (r: Running) => r.lines.findLast((l) => l.msg === "joined consumer group")?.partitions as number[] | undefined;
  await until("the second consumer to join and take partitions", async () => (partitionsOf(third)?.length ?? 0) > 0, 90_000, 100);
  await produce(p.topic, records.slice(half));
  await until("both consumers caught up", async () => {
    const [a, b] = await Promise.all([second.status(), third.status()]);
    return a.caughtUp === true && b.caughtUp === true && a.inFlight === 0 && b.inFlight === 0;
  }, 120_000, 200);
  for (const r of [second, third]) r.proc.kill("SIGTERM");
  expect(await Promise.all([second.exited, third.exited])).toEqual([0, 0]);

  // Commits kept up: all but the open windows' last minutes (out-of-orderness + a window) are committed.
  const committed = await committedTotal(p.env.KAFKA_GROUP_ID!, p.topic);
  expect(committed).toBeGreaterThan(N * 0.7);
  expect(committed).toBeLessThan(N);

  // What was stored.
  const rows = await readRows(p.keyspace);
  expect(rows.size).toBe(N);
  const db = cassandraClient(p.keyspace);
  const stored = (await db.execute("SELECT * FROM event_windows", [], { fetchSize: 100_000 })).rows;
  await db.shutdown();
  const exp = expected(events);

  // 1. Every closed (window, type, partition) as the test's own computation; none closed that should not be.
  let closedCompared = 0;
  for (const r of stored) {
    const partition = r.kafka_partition as number, start = (r.window_start as Date).getTime(), type = r.event_type as string;
    const w = exp.windows.get(`${partition}/${start}/${type}`);
    if (r.events === null) continue; // a row holding only too-late offsets
    expect(r.window_ms).toBe(SIZE);
    expect([partition, start, type, "closed", r.closed]).toEqual([partition, start, type, "closed", exp.closed(partition, start)]);
    if (!r.closed) continue;
    expect([partition, start, type, Number(r.events), Number(r.users)]).toEqual([partition, start, type, w!.events, w!.users.size]);
    closedCompared++;
  }
  const expectedClosed = [...exp.windows.values()].filter((w) => exp.closed(w.partition, w.start)).length;
  expect(closedCompared).toBe(expectedClosed);
  expect(expectedClosed).toBeGreaterThan(300);

  // 2. The same from the stored rows: per window and type summed over partitions, less the too-late events.
  const fromRows = new Map<string, { events: number; users: Set<string> }>();
  for (const row of rows.values()) {
    if (exp.tooLate.has(row.event_id)) continue;
    const start = row.event_time - (row.event_time % SIZE);
    const k = `${start}/${row.event_type}`;
    const w = fromRows.get(k) ?? { events: 0, users: new Set<string>() };
    fromRows.set(k, w);
    w.events++;
    w.users.add(row.user_id);
  }
  const summed = new Map<string, { events: number; users: number; closed: boolean }>();
  for (const r of stored) {
    if (r.events === null) continue;
    const k = `${(r.window_start as Date).getTime()}/${r.event_type}`;
    const s = summed.get(k) ?? { events: 0, users: 0, closed: true };
    summed.set(k, { events: s.events + Number(r.events), users: s.users + Number(r.users), closed: s.closed && r.closed });
  }
  let windowsCompared = 0;
  for (const [k, s] of summed) {
    // Closed in every partition that has it (a window of one partition may still be open in another).
    if (!s.closed || [...Array(PARTITIONS).keys()].some((q) => !exp.closed(q, Number(k.split("/")[0])))) continue;
    expect([k, s.events, s.users]).toEqual([k, fromRows.get(k)!.events, fromRows.get(k)!.users.size]);
    windowsCompared++;
  }
  expect(windowsCompared).toBeGreaterThan(100);

  // 3. Too-late events: exactly the expected ones, by their source offsets.
  const late = new Set<string>();
  for (const r of stored) for (const o of (r.late_offsets ?? []) as { toNumber(): number }[]) late.add(exp.offsets.get(`${r.kafka_partition}/${o.toNumber()}`)!);
  expect(late.size).toBe(exp.tooLate.size);
  expect([...late].every((id) => exp.tooLate.has(id))).toBe(true);
  expect(exp.tooLate.size).toBeGreaterThan(500);
  // 4. The read API, on a consumer's status port, against direct CQL reads.
  const reader = start("binary", ["consume"], env);
  running.push(reader);
  await until("the reader's status server", async () => (await fetch(`${reader.statusUrl}/healthz`).catch(() => null))?.ok, 30_000, 100);
  const get = async (path: string) => {
    const res = await fetch(`${reader.statusUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const firstStart = Math.min(...stored.map((r) => (r.window_start as Date).getTime()));
  for (const [from, to, type] of [[firstStart, firstStart + 10 * SIZE, ""], [firstStart + 5 * SIZE, firstStart + 9 * SIZE, "CLICK"]] as const) {
    const { status, body } = await get(`/v1/counts?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}${type ? `&type=${type}` : ""}`);
    expect(status).toBe(200);
    // Summed here from the rows read directly, too-late offsets included (a window may hold only those: 0 events).
    const direct = new Map<string, { start: string; type: string; events: number; users: number; late: number }>();
    for (const r of stored) {
      const st = (r.window_start as Date).getTime();
      if (st < from || st >= to || (type && r.event_type !== type)) continue;
      const k = `${st}/${r.event_type}`;
      const d = direct.get(k) ?? { start: new Date(st).toISOString(), type: r.event_type as string, events: 0, users: 0, late: 0 };
      direct.set(k, { ...d, events: d.events + Number(r.events ?? 0), users: d.users + Number(r.users ?? 0), late: d.late + ((r.late_offsets as unknown[] | null)?.length ?? 0) });
    }
    const want = [...direct.values()].sort((x, y) => x.start.localeCompare(y.start) || x.type.localeCompare(y.type));
    expect(want.length).toBeGreaterThan(type ? 3 : 30);
    expect((body.windows as Record<string, unknown>[]).map((w) => ({ start: w.start, type: w.type, events: w.events, users: w.users, late: w.late }))).toEqual(want);
  }
  const sample = [...new Set([...rows.values()].map((r) => `${r.user_id}/${r.bucket_date}`))].slice(0, 8);
  let pagesRead = 0;
  for (const key of sample) {
    const [user, date] = key.split("/");
    const direct = [...rows.values()].filter((r) => r.user_id === user && r.bucket_date === date)
      .sort((x, y) => y.event_time - x.event_time || x.event_type.localeCompare(y.event_type) || x.event_id.localeCompare(y.event_id)).map((r) => r.event_id);
    const got: string[] = [];
    for (let page: string | null = ""; page !== null; pagesRead++) {
      const { status, body } = await get(`/v1/users/${user}/events?date=${date}&limit=7${page ? `&page=${page}` : ""}`);
      expect(status).toBe(200);
      got.push(...(body.events as { eventId: string }[]).map((e) => e.eventId));
      page = body.next as string | null;
    }
    expect(got).toEqual(direct);
  }
  for (const path of ["/v1/counts?from=x&to=y", "/v1/counts?from=2026-12-04T00:00:00Z&to=2026-12-07T00:00:00Z", `/v1/users/nope/events?date=2026-12-04`,
    `/v1/users/${sample[0]!.split("/")[0]}/events?date=2026-99-01`, `/v1/users/${sample[0]!.split("/")[0]}/events?date=2026-12-04&limit=5000`]) {
    const { status, body } = await get(path);
    expect([path, status, typeof body.error]).toEqual([path, 400, "string"]);
  }
  reader.proc.kill("SIGTERM");
  expect(await reader.exited).toBe(0);

  console.log("windows-result", JSON.stringify({
    readApi: { usersCompared: sample.length, pagesRead },
    events: N, committed, closedWindowRowsCompared: closedCompared, windowsComparedWithRows: windowsCompared, tooLate: late.size,
    rebalancesSeen: [second, third].map((r) => r.lines.filter((l) => l.msg === "joined consumer group").length),
  }));
}, 300_000);
