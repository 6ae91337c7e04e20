/**
 * The status server of a running `events consume` on the real stack: every endpoint's codes and content,
 * readiness following Cassandra, the token, and Prometheus text that parses.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { asAvro, isolatedPipeline, makeEvents, produce, type Running, start, until } from "../helpers/events.ts";
import { requireStack, ROOT, HOOK_TIMEOUT } from "../helpers/stack.ts";

let run: Running;
let drop: () => Promise<void>;
const TOKEN = "t0ken-for-tests";

beforeAll(async () => {
  await requireStack();
  const p = await isolatedPipeline("it-status");
  drop = p.drop;
  await produce(p.topic, asAvro(makeEvents(2000, { seed: 3, start: Date.now() - 60_000, stepMs: 20, jitterMs: 1000 })));
  run = start("source", ["consume"], { ...p.env, STATUS_TOKEN: TOKEN });
  await until("the consumer to write the events", async () => {
    const r = await fetch(`${run.statusUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await r.json()) as { written: number }).written === 2000;
  });
}, HOOK_TIMEOUT);

afterAll(async () => {
  run?.proc.kill("SIGTERM");
  await run?.exited;
  await drop?.();
}, HOOK_TIMEOUT);

const get = (path: string, token?: string) => fetch(`${run.statusUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

test("/healthz is 200 and needs no token", async () => {
  const r = await get("/healthz");
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ ok: true, mode: "consume" });
});

test("/readyz is 200 once joined with Cassandra answering, 503 while Cassandra is stopped, 200 again after", async () => {
  expect((await get("/readyz")).status).toBe(200);
  const pid = Number(readFileSync(join(ROOT, ".stack/run/cassandra.pid"), "utf8"));
  process.kill(pid, "SIGSTOP");
  try {
    const body = await until("/readyz to turn 503", async () => {
      const r = await get("/readyz");
      return r.status === 503 ? ((await r.json()) as { notReady: string[] }) : null;
    }, 20_000, 250);
    expect(body.notReady.join(" ")).toContain("cassandra");
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await until("/readyz to be 200 again", async () => (await get("/readyz")).status === 200, 30_000, 250);
}, 60_000);

test("everything but /healthz and /readyz needs the token (header, or ?token= for the dashboard)", async () => {
  for (const path of ["/metrics", "/status", "/"]) {
    expect((await get(path)).status).toBe(401);
    expect((await get(path, "wrong")).status).toBe(401);
    expect((await get(path, TOKEN)).status).toBe(200);
  }
  expect((await get(`/?token=${TOKEN}`)).status).toBe(200);
});

test("/metrics is valid Prometheus text with every documented metric, and the README documents every name", async () => {
  const r = await get("/metrics", TOKEN);
  expect(r.headers.get("content-type")).toContain("text/plain");
  const text = await r.text();
  // Every line is a comment (# HELP / # TYPE) or a sample: name{labels} value.
  for (const line of text.split("\n").filter(Boolean)) {
    expect(line).toMatch(/^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?(\d+(\.\d+)?(e[+-]?\d+)?|NaN|\+Inf|-Inf))$/);
  }
  const families = parsePrometheusTextFormat(text) as { name: string; type: string; metrics: { value?: string; labels?: Record<string, string> }[] }[];
  const byName = new Map(families.map((f) => [f.name, f]));
  const v = (name: string) => Number(byName.get(name)?.metrics.reduce((a, m) => a + Number(m.value ?? 0), 0));
  expect(v("events_consumed_total")).toBe(2000);
  expect(v("events_written_total")).toBe(2000);
  for (const name of ["events_dead_lettered_total", "events_late_total", "events_sink_retries_total", "events_in_flight",
    "events_cassandra_write_seconds", "events_end_to_end_latency_seconds", "events_watermark_timestamp_seconds",
    "events_watermark_lag_seconds", "events_consumer_lag", "events_process_resident_memory_bytes", "events_process_cpu_seconds_total"]) {
    expect([name, byName.has(name)]).toEqual([name, true]);
  }
  expect(byName.get("events_end_to_end_latency_seconds")!.type).toBe("HISTOGRAM");
  expect(byName.get("events_consumer_lag")!.metrics.map((m) => m.labels?.partition).sort()).toEqual(["0", "1", "2"]);
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const undocumented = families.map((f) => f.name).filter((n) => n.startsWith("events_") && !n.startsWith("events_process_") && !n.startsWith("events_nodejs_") && !readme.includes(n));
  expect(undocumented).toEqual([]);
});

test("/status is JSON with counts, partitions, watermark, history and the latest events; / is the dashboard", async () => {
  const s = (await (await get("/status", TOKEN)).json()) as Record<string, unknown> & { partitions: unknown[]; recent: unknown[]; history: unknown[] };
  expect(s.mode).toBe("consume");
  expect(s.written).toBe(2000);
  expect(s.partitions).toHaveLength(3);
  expect(typeof s.watermark).toBe("number");
  expect(s.recent.length).toBeGreaterThan(0);
  expect(s.history.length).toBeGreaterThan(0);
  const html = await (await get("/", TOKEN)).text();
  expect(html).toContain("<title>events");
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/); // nothing from a CDN
});
