/**
 * Helpers for end-to-end tests: produce events, run `events consume` (from source or the compiled
 * binary) as a real child process, read rows and dead letters back.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import type cassandra from "cassandra-driver";
import type { IHeaders, KafkaMessage } from "kafkajs";
import { seededRandom, seededUuid } from "../../src/simulate/activity.ts";
import { encode } from "../../src/codec/encode.ts";
import { binary, cassandraClient, freshKeyspace, freshTopic, kafka, ROOT, runEvents } from "./stack.ts";

export interface TestEvent {
  user_id: string;
  event_type: string;
  event_time: number;
  event_id: string;
  metadata: Record<string, string>;
}

const TYPES = ["PAGE_VIEW", "CLICK", "VIEW_ITEM", "FORM_SUBMIT", "ADD_TO_CART", "PURCHASE", "LOGIN", "LOGOUT"];

/**
 * n events of `users` users whose times advance from `start` by `stepMs` each, minus up to `jitterMs`
 * (out of order). Metadata varies in size, including empty.
 */
export function makeEvents(n: number, opts: { seed: number; start: number; stepMs: number; jitterMs: number; users?: number }): TestEvent[] {
  const r = seededRandom(opts.seed);
  const users = Array.from({ length: opts.users ?? 500 }, () => seededUuid(r));
  return Array.from({ length: n }, (_, i) => {
    const k = Math.floor(r() * 4);
    const metadata: Record<string, string> = {};
    for (let j = 0; j < k; j++) metadata[`k${j}`] = `v${i}-${j}-${"x".repeat(Math.floor(r() * 40))}`;
    return {
      user_id: users[Math.floor(r() * users.length)]!,
      event_type: TYPES[Math.floor(r() * TYPES.length)]!,
      event_time: Math.round(opts.start + i * opts.stepMs - r() * opts.jitterMs),
      event_id: seededUuid(r),
      metadata,
    };
  });
}

export type Produced = { key?: string | Buffer | null; value: Buffer | null; partition?: number; headers?: IHeaders };

export async function produce(topic: string, messages: Produced[]): Promise<void> {
  const producer = kafka().producer();
  await producer.connect();
  // Requests stay well under the broker's message.max.bytes (1 MiB).
  for (let i = 0; i < messages.length;) {
    let j = i;
    for (let bytes = 0; j < messages.length && j - i < 2000 && (j === i || bytes < 512 * 1024); j++) bytes += (messages[j]!.value?.length ?? 0) + 64;
    await producer.send({ topic, acks: -1, messages: messages.slice(i, j) });
    i = j;
  }
  await producer.disconnect();
}

export const asAvro = (events: TestEvent[], format: "avro" | "confluent" | "json" = "avro"): Produced[] =>
  events.map((e) => ({ key: e.user_id, value: encode(e, format) }));

export interface Row {
  user_id: string;
  bucket_date: string;
  event_time: number;
  event_type: string;
  event_id: string;
  metadata: Record<string, string>;
}

/** The driver's result stream is async-iterable, though its type declarations do not say so. */
function rowsOf(c: cassandra.Client, cql: string): AsyncIterable<cassandra.types.Row> {
  return c.stream(cql, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<cassandra.types.Row>;
}

export async function readRows(keyspace: string): Promise<Map<string, Row>> {
  const { rows, total } = await readAllRows(keyspace);
  if (total !== rows.size) throw new Error(`${total} rows but ${rows.size} distinct event ids`);
  return rows;
}

/** Every row by event id, and how many rows were read (more than the ids: an event stored twice). */
export async function readAllRows(keyspace: string): Promise<{ rows: Map<string, Row>; total: number }> {
  const c = cassandraClient(keyspace);
  const rows = new Map<string, Row>();
  let total = 0;
  try {
    for await (const r of rowsOf(c, "SELECT * FROM user_events")) {
      total++;
      rows.set(r.event_id.toString(), {
        user_id: r.user_id.toString(), bucket_date: r.bucket_date.toString(), event_time: r.event_time.getTime(),
        event_type: r.event_type, event_id: r.event_id.toString(), metadata: r.metadata ?? {},
      });
    }
  } finally {
    await c.shutdown();
  }
  return { rows, total };
}

/** The group's committed offsets on the topic, summed over its partitions (records it will not read again). */
export async function committedTotal(groupId: string, topic: string): Promise<number> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return t!.partitions.reduce((a, x) => a + Math.max(0, Number(x.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function countRows(keyspace: string): Promise<number> {
  const c = cassandraClient(keyspace);
  try {
    let n = 0;
    for await (const _ of rowsOf(c, "SELECT event_id FROM user_events")) n++;
    return n;
  } finally {
    await c.shutdown();
  }
}

/** Read every record of a topic (dead letters), until `expected` arrived or timeoutMs passed. */
export async function readTopic(topic: string, expected: number, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  const consumer = kafka().consumer({ groupId: `reader-${topic}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: KafkaMessage[] = [];
  await new Promise<void>((done) => {
    const timer = setTimeout(done, timeoutMs);
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message);
        if (got.length >= expected) {
          clearTimeout(timer);
          // Give a moment for any unexpected extra records to arrive too.
          setTimeout(done, 1500);
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

export const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

export interface Running {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Peak RSS (VmHWM) seen so far, in MB. */
  peakRssMB(): number;
  /** JSON log lines so far. */
  lines: Record<string, unknown>[];
  statusUrl?: string;
  exited: Promise<number>;
  status(): Promise<Record<string, unknown>>;
}

let nextPort = 19_500 + Math.floor(Math.random() * 2000);

/** Start `events <args>` as a child process; its JSON log lines are collected. */
export function start(how: "source" | "binary", args: string[], env: Record<string, string>, withStatus = true): Running {
  const port = nextPort++;
  const cmd = how === "binary" ? [binary(), ...args] : ["bun", resolve(ROOT, "src/cli/main.ts"), ...args];
  const proc = Bun.spawn(cmd, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", STATUS_ADDR: withStatus ? `127.0.0.1:${port}` : "off", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const lines: Record<string, unknown>[] = [];
  const pump = (async () => {
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += new TextDecoder().decode(chunk);
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line));
        } catch {
          lines.push({ raw: line });
        }
      }
    }
  })();
  const stderr = new Response(proc.stderr).text();
  const statusUrl = withStatus ? `http://127.0.0.1:${port}` : undefined;
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Math.round(Number(m[1]) / 1024));
    } catch {
      // gone
    }
  }, 100);
  return {
    proc, lines, statusUrl,
    peakRssMB: () => peak,
    exited: (async () => {
      const code = await proc.exited;
      clearInterval(poll);
      await pump;
      const err = await stderr;
      if (err.trim()) lines.push({ stderr: err });
      return code;
    })(),
    async status() {
      const r = await fetch(`${statusUrl}/status`);
      return (await r.json()) as Record<string, unknown>;
    },
  };
}

/** Poll until fn() is truthy, or fail after timeoutMs naming what was awaited. */
export async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 60_000, everyMs = 200): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** The consumer's summary line (its totals at exit). */
export type Summary = { consumed: number; written: number; deadLettered: number; late: number } & Record<string, number>;

export function summary(r: Running): Summary {
  const s = r.lines.find((l) => l.msg === "summary");
  if (!s) throw new Error(`no summary line; output:\n${r.lines.map((l) => JSON.stringify(l)).join("\n")}`);
  return s as Summary;
}

/** Run consume until it exits by itself (--exit-when-idle), bounded by timeoutMs. */
export async function consumeAll(how: "source" | "binary", env: Record<string, string>, timeoutMs = 180_000, idle = "2s"): Promise<Running> {
  const r = start(how, ["consume", "--exit-when-idle", idle], env, false);
  const timer = setTimeout(() => r.proc.kill("SIGKILL"), timeoutMs);
  const code = await r.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`consume exited ${code}; output:\n${r.lines.map((l) => JSON.stringify(l)).join("\n")}`);
  return r;
}

/** A fresh topic, dead-letter topic, group and migrated keyspace: the env for one isolated pipeline. */
export async function isolatedPipeline(prefix: string, settings: Record<string, string> = {}): Promise<{ env: Record<string, string>; topic: string; dlq: string; keyspace: string; drop(): Promise<void> }> {
  const topic = await freshTopic(prefix, 3);
  const dlq = await freshTopic(`${prefix}-dlq`, 1);
  const keyspace = freshKeyspace(prefix.replaceAll("-", "_"));
  // `settings` (BUCKET=hour, say) apply to the migrate and to every process started with the env.
  const m = runEvents("source", ["migrate", "--keyspace", keyspace], settings);
  if (m.status !== 0) throw new Error(`migrate failed: ${m.stderr}`);
  return {
    topic, dlq, keyspace,
    env: { KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: dlq, KAFKA_GROUP_ID: `${topic}-g`, CASSANDRA_KEYSPACE: keyspace, LOG_LEVEL: "info", ...settings },
    // Its keyspace and both topics: the local stack outlives the test run, and would gather them run after run.
    async drop() {
      const c = cassandraClient();
      await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
      await c.shutdown();
      const admin = kafka().admin();
      await admin.connect().then(() => admin.deleteTopics({ topics: [topic, dlq] })).catch(() => {});
      await admin.disconnect();
    },
  };
}
