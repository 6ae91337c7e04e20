#!/usr/bin/env bun
/**
 * `bun scripts/tombstones.ts <keyspace> [table]`: flush the table on the local node (nodetool), read its SSTables
 * with sstabledump, and print how many rows it holds and how many of them carry a tombstone (of the row, a
 * column or a collection). On a table written by `events consume` with SINK_WRITE=append: 0.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { cassandraTool, nodetool, stackPaths } from "./stack.ts";

export function tombstonesOnDisk(keyspace: string, table = "user_events"): { rows: number; withTombstone: number; sstables: number } {
  const flushed = nodetool("127.0.0.1", "flush", keyspace, table);
  if (flushed.status !== 0) throw new Error(`nodetool flush ${keyspace} ${table}: ${flushed.stderr.trim()}`);
  const dir = join(stackPaths.home("cassandra"), "data", "data", keyspace);
  const tableDir = readdirSync(dir).find((d) => d.startsWith(`${table}-`));
  if (!tableDir) throw new Error(`no ${keyspace}.${table} under ${dir}`);
  const files = readdirSync(join(dir, tableDir)).filter((f) => f.endsWith("-Data.db"));
  let rows = 0;
  let withTombstone = 0;
  for (const f of files) {
    const dump = cassandraTool("org.apache.cassandra.tools.SSTableExport", join(dir, tableDir, f));
    if (dump.status !== 0) throw new Error(`sstabledump ${f}: ${dump.stderr.trim()}`);
    // One JSON array of partitions; each row's object starts with "type" : "row". Counted as text: a dump of
    // 200,000 rows is tens of MB, and a row's deletion_info (its own or a cell's) sits between it and the next.
    const parts = dump.stdout.split(/"type"\s*:\s*"row"/);
    rows += parts.length - 1;
    for (const row of parts.slice(1)) if (row.includes('"deletion_info"')) withTombstone++;
  }
  return { rows, withTombstone, sstables: files.length };
}

if (import.meta.main) {
  const [keyspace, table] = process.argv.slice(2);
  if (!keyspace) {
    console.error("usage: bun scripts/tombstones.ts <keyspace> [table]");
    process.exit(2);
  }
  const r = tombstonesOnDisk(keyspace, table);
  console.log(`${keyspace}.${table ?? "user_events"}: ${r.rows} rows in ${r.sstables} SSTable(s), ${r.withTombstone} with a tombstone`);
}
