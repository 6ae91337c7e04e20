/**
 * `events redrive` on the real stack, through the compiled binary: dead letters re-sent once their cause is
 * fixed are stored; a second redrive of the same records, and a redriven record that fails again, are refused
 * by the loop guard; a dry run sends nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encode } from "../../src/codec/encode.ts";
import { consumeAll, header, isolatedPipeline, makeEvents, produce, readAllRows, readTopic, summary } from "../helpers/events.ts";
import { HOOK_TIMEOUT, kafka, requireStack, runEvents } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

async function endOffsets(topic: string): Promise<number> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

function redrive(env: Record<string, string>, ...args: string[]) {
  const r = runEvents("binary", ["redrive", ...args], env, 120_000);
  if (r.status !== 0) throw new Error(`redrive exited ${r.status}: ${r.stderr}`);
  return r;
}

test("redrive: invalid_event_time dead letters re-sent after the bound is fixed are stored; a second redrive is refused; so is a redriven record that fails again", async () => {
  const p = await isolatedPipeline("it-redrive");
  drops.push(p.drop);
  // Without windows: each consume here resumes exactly where the last one committed, so that its counts are the
  // redriven records alone (windows hold commits for their last minutes, and a restart reads those again).
  p.env.WINDOWS = "off";
  const now = Date.now();
  const valid = makeEvents(300, { seed: 41, start: now - 60_000, stepMs: 100, jitterMs: 0 });
  // Three hours ahead: beyond a consumer bound of 1 h, within the default 24 h (a producer whose clock is
  // set to another time zone, say).
  const ahead = makeEvents(120, { seed: 42, start: now + 3 * 3_600_000, stepMs: 100, jitterMs: 0 });
  const badUuid = makeEvents(50, { seed: 43, start: now - 30_000, stepMs: 100, jitterMs: 0 }).map((e) => ({ ...e, user_id: `user-${e.event_id.slice(0, 8)}` }));
  await produce(p.topic, [
    ...valid.map((e) => ({ key: e.user_id, value: encode(e, "json") })),
    ...ahead.map((e) => ({ key: e.user_id, value: encode(e, "json"), headers: { origin: "it-redrive" } })),
    ...badUuid.map((e) => ({ key: e.user_id, value: encode(e, "json") })),
  ]);

  // A consumer whose bound is too tight dead-letters the events from ahead.
  const tight = await consumeAll("binary", { ...p.env, EVENT_TIME_MAX_FUTURE: "1h" });
  expect(summary(tight)).toMatchObject({ written: 300, deadLettered: 170 });
  const dead = await readTopic(p.dlq, 170, 20_000);
  expect(dead.filter((m) => header(m, "dlq.reason") === "invalid_event_time")).toHaveLength(120);
  const sourceEnd = await endOffsets(p.topic);

  // A dry run prints the 120 and sends nothing.
  const dry = redrive(p.env, "--reason", "invalid_event_time", "--dry-run");
  const lines = dry.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.msg === "would redrive");
  expect(lines).toHaveLength(120);
  expect(lines.every((l) => l.reason === "invalid_event_time" && l.source.startsWith(`${p.topic}/`))).toBe(true);
  expect(await endOffsets(p.topic)).toBe(sourceEnd);

  // Redriven once the bound is fixed (the default 24 h): exactly those 120, stored with every field right.
  const first = redrive(p.env, "--reason", "invalid_event_time");
  expect(first.stderr).toContain(`sent 120 of 170 records of ${p.dlq} to ${p.topic}`);
  expect(await endOffsets(p.topic)).toBe(sourceEnd + 120);
  const fixed = await consumeAll("binary", p.env);
  expect(summary(fixed)).toMatchObject({ consumed: 120, written: 120, deadLettered: 0 });
  const { rows, total } = await readAllRows(p.keyspace);
  expect(total).toBe(420);
  for (const e of [...valid, ...ahead]) {
    const row = rows.get(e.event_id);
    expect(row && { user_id: row.user_id, event_type: row.event_type, event_time: row.event_time, metadata: row.metadata })
      .toEqual({ user_id: e.user_id, event_type: e.event_type, event_time: e.event_time, metadata: e.metadata });
  }

  // A second redrive of the same records: refused, nothing sent.
  const second = redrive(p.env, "--reason", "invalid_event_time");
  expect(second.stderr).toContain("sent 0 of 290");
  expect(second.stderr).toContain("refused 120 (already redriven: 120,");
  expect(await endOffsets(p.topic)).toBe(sourceEnd + 120);

  // The loop: records still bad after a redrive come back carrying dlq.redriven=1, and are not sent a third time.
  expect(redrive(p.env, "--reason", "invalid_uuid").stderr).toContain("sent 50 of 290");
  const again = await consumeAll("binary", p.env);
  expect(summary(again)).toMatchObject({ consumed: 50, written: 0, deadLettered: 50 });
  const back = (await readTopic(p.dlq, 390, 20_000)).filter((m) => header(m, "dlq.redriven") === "1");
  expect(back).toHaveLength(50);
  expect(back.every((m) => header(m, "dlq.redriven.from")?.startsWith(`${p.dlq}/0/`) && header(m, "dlq.reason") === "invalid_uuid")).toBe(true);
  const third = redrive(p.env, "--reason", "invalid_uuid");
  expect(third.stderr).toContain("sent 0 of 390");
  expect(third.stderr).toContain("refused 100 (already redriven: 50, dead-lettered again after 1 redrive(s): 50,");
  expect(await endOffsets(p.topic)).toBe(sourceEnd + 170);
}, 240_000);
