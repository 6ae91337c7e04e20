/**
 * The Cassandra side of a row: the seed's INSERT of a non-frozen map deletes the map before writing its cells
 * (a collection tombstone in every row); SINK_WRITE=append (the default) writes the same rows without one. The
 * same events are written both ways, flushed (nodetool), and the SSTables read with sstabledump: it lists every
 * row's cells with their deletion info. The rows read back are the same.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { cassandraTool, nodetool, stackPaths } from "../../scripts/stack.ts";
import { asAvro, consumeAll, isolatedPipeline, makeEvents, produce, readAllRows, summary } from "../helpers/events.ts";
import { cassandraClient, freshKeyspace, HOOK_TIMEOUT, requireStack, runEvents } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

/** Rows, and rows carrying a deletion (a tombstone of the row, a column or a collection), in a table's SSTables. */
function tombstonesOnDisk(keyspace: string): { rows: number; withTombstone: number; sstables: number } {
  const flushed = nodetool("127.0.0.1", "flush", keyspace, "user_events");
  if (flushed.status !== 0) throw new Error(`nodetool flush: ${flushed.stderr}`);
  const dir = join(stackPaths.home("cassandra"), "data", "data", keyspace);
  const table = readdirSync(dir).find((d) => d.startsWith("user_events-"))!;
  const files = readdirSync(join(dir, table)).filter((f) => f.endsWith("-Data.db"));
  let rows = 0;
  let withTombstone = 0;
  for (const f of files) {
    const dump = cassandraTool("org.apache.cassandra.tools.SSTableExport", join(dir, table, f));
    if (dump.status !== 0) throw new Error(`sstabledump: ${dump.stderr}`);
    for (const partition of JSON.parse(dump.stdout) as { rows: { type: string; deletion_info?: unknown; cells?: { deletion_info?: unknown }[] }[] }[]) {
      for (const row of partition.rows) {
        if (row.type !== "row") continue;
        rows++;
        if (row.deletion_info || row.cells?.some((c) => c.deletion_info)) withTombstone++;
      }
    }
  }
  return { rows, withTombstone, sstables: files.length };
}

test("SINK_WRITE=append writes no tombstones; the seed's INSERT writes one in every row; the rows are the same", async () => {
  const p = await isolatedPipeline("it-tomb");
  drops.push(p.drop);
  // One user, one day: 200 events in one partition, most with metadata, some without.
  const events = makeEvents(200, { seed: 81, start: Date.UTC(2026, 11, 3, 8), stepMs: 1000, jitterMs: 0, users: 1 });
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
  expect(summary(appended).written).toBe(200);
  expect(summary(inserted).written).toBe(200);

  const a = await readAllRows(p.keyspace);
  const b = await readAllRows(insertKs);
  expect(a.total).toBe(200);
  expect([...a.rows.values()].sort((x, y) => x.event_id.localeCompare(y.event_id)))
    .toEqual([...b.rows.values()].sort((x, y) => x.event_id.localeCompare(y.event_id)));

  const withMetadata = events.filter((e) => Object.keys(e.metadata).length > 0).length;
  const append = tombstonesOnDisk(p.keyspace);
  const insert = tombstonesOnDisk(insertKs);
  expect({ rows: append.rows, withTombstone: append.withTombstone }).toEqual({ rows: 200, withTombstone: 0 });
  // Every row: an INSERT of an empty map is that deletion alone.
  expect({ rows: insert.rows, withTombstone: insert.withTombstone }).toEqual({ rows: 200, withTombstone: 200 });
  console.log(`tombstones: 200 events (${withMetadata} with metadata), flushed and dumped: SINK_WRITE=insert left ${insert.withTombstone} rows with a tombstone (${insert.sstables} SSTable), append ${append.withTombstone} (${append.sstables})`);
}, 120_000);
