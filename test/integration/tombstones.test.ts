/**
 * The Cassandra side of a row: the seed's INSERT of a non-frozen map deletes the map before writing its cells
 * (a collection tombstone in every row); SINK_WRITE=append (the default) writes the same rows without one. The
 * same 200,000 events are written both ways, flushed (nodetool), and the SSTables read with sstabledump, which lists
 * every row's cells with their deletion info (scripts/tombstones.ts). The rows read back are the same.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { tombstonesOnDisk } from "../../scripts/tombstones.ts";
import { asAvro, consumeAll, isolatedPipeline, makeEvents, produce, readAllRows, summary } from "../helpers/events.ts";
import { cassandraClient, freshKeyspace, HOOK_TIMEOUT, requireStack, runEvents } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

test("SINK_WRITE=append writes no tombstones; the seed's INSERT writes one in every row; the rows are the same", async () => {
  const p = await isolatedPipeline("it-tomb");
  drops.push(p.drop);
  // 200,000 events of 5,000 users over a day, most with metadata, some without.
  const N = 200_000;
  const events = makeEvents(N, { seed: 81, start: Date.UTC(2026, 11, 3, 0), stepMs: 400, jitterMs: 0, users: 5000 });
  await produce(p.topic, asAvro(events));
  const insertKs = freshKeyspace("it_tomb_insert");
  expect(runEvents("source", ["migrate", "--keyspace", insertKs]).status).toBe(0);
  drops.push(async () => {
    const c = cassandraClient();
    await c.execute(`DROP KEYSPACE IF EXISTS ${insertKs}`).catch(() => {});
    await c.shutdown();
  });
  const appended = await consumeAll("binary", p.env);
  const inserted = await consumeAll("binary", { ...p.env, KAFKA_GROUP_ID: `${p.env.KAFKA_GROUP_ID}-insert`, CASSANDRA_KEYSPACE: insertKs, SINK_WRITE: "insert" });
  expect(summary(appended).written).toBe(N);
  expect(summary(inserted).written).toBe(N);

  const a = await readAllRows(p.keyspace);
  const b = await readAllRows(insertKs);
  expect(a.total).toBe(N);
  expect(b.total).toBe(N);
  const differ = [...a.rows.values()].filter((r) => JSON.stringify(r) !== JSON.stringify(b.rows.get(r.event_id))).length;
  expect(differ).toBe(0);

  const withMetadata = events.filter((e) => Object.keys(e.metadata).length > 0).length;
  const append = tombstonesOnDisk(p.keyspace);
  const insert = tombstonesOnDisk(insertKs);
  expect({ rows: append.rows, withTombstone: append.withTombstone }).toEqual({ rows: N, withTombstone: 0 });
  // Every row: an INSERT of an empty map is that deletion alone.
  expect({ rows: insert.rows, withTombstone: insert.withTombstone }).toEqual({ rows: N, withTombstone: N });
  console.log(`tombstones: ${N} events (${withMetadata} with metadata), flushed and dumped (bun scripts/tombstones.ts <keyspace>): SINK_WRITE=insert left ${insert.withTombstone} rows with a tombstone (${insert.sstables} SSTables), append ${append.withTombstone} (${append.sstables})`);
}, 240_000);
