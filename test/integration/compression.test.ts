/**
 * Compressed batches end to end through the compiled binary: `events simulate --compression <codec>` writes the
 * topic (the broker keeps the producer's compression), `events consume` reads every event back. The topic's
 * size on the broker's disk shows the batches really were compressed (about a fifth of the uncompressed size).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { stackPaths } from "../../scripts/stack.ts";
import { countRows, isolatedPipeline } from "../helpers/events.ts";
import { HOOK_TIMEOUT, requireStack, runEvents } from "../helpers/stack.ts";

const N = 5000;
const drops: (() => Promise<void>)[] = [];
beforeAll(requireStack, HOOK_TIMEOUT);
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

/** Bytes of the topic's log segments on the local broker's disk, over its partitions. */
function topicBytes(topic: string): number {
  const data = join(stackPaths.home("kafka"), "data");
  let bytes = 0;
  for (const dir of readdirSync(data).filter((d) => d.startsWith(`${topic}-`))) {
    for (const f of readdirSync(join(data, dir)).filter((f) => f.endsWith(".log"))) bytes += statSync(join(data, dir, f)).size;
  }
  return bytes;
}

const sizes: Record<string, number> = {};
for (const codec of ["none", "gzip", "snappy", "lz4", "zstd"]) {
  test(`--compression ${codec}: simulate writes it, consume stores all ${N} events (dist/events)`, async () => {
    const p = await isolatedPipeline(`it-z-${codec}`);
    drops.push(p.drop);
    const sim = runEvents("binary", ["simulate", "--count", String(N), "--rate", "0", "--compression", codec, "--seed", "7", "--status-addr", "off"], p.env);
    expect([sim.status, sim.stderr]).toEqual([0, ""]);
    sizes[codec] = topicBytes(p.topic);
    const con = runEvents("binary", ["consume", "--exit-when-idle", "2s", "--status-addr", "off"], p.env);
    expect([con.status, con.stderr]).toEqual([0, ""]);
    expect(con.stdout).toContain(`"written":${N}`);
    expect(con.stdout).toContain('"deadLettered":0');
    expect(await countRows(p.keyspace)).toBe(N);
  }, 120_000);
}

test("the compressed topics are smaller on the broker's disk than the uncompressed one", () => {
  console.log(`compression-sizes ${JSON.stringify(sizes)}`);
  for (const codec of ["gzip", "snappy", "lz4", "zstd"]) expect([codec, sizes[codec]! < 0.7 * sizes.none!]).toEqual([codec, true]);
});
