/** A tiny run of `bun run bench` end to end: every phase runs and the report has every figure. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { requireStack, ROOT } from "../helpers/stack.ts";

test("bun run bench --events 3000 runs every phase and writes its JSON report", async () => {
  await requireStack();
  const p = Bun.spawn(["bun", "scripts/bench.ts", "--events", "3000", "--latency-seconds", "3", "--rate", "300",
    "--compaction-wait-seconds", "1"],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 170_000);
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  clearTimeout(timer);
  expect(await p.exited, err).toBe(0);
  expect(out).toContain("| sink ceiling");
  const file = /JSON: (\S+)/.exec(out)?.[1];
  const r = JSON.parse(readFileSync(file!, "utf8"));
  expect(r.settings.events).toBe(3000);
  expect(r.sink.eventsPerSec).toBeGreaterThan(0);
  expect(r.pipeline.eventsPerSec).toBeGreaterThan(0);
  expect(r.pipeline.peakRssMB).toBeGreaterThan(0);
  expect(r.pipeline.runs).toHaveLength(2); // measured twice, interleaved with the sink
  expect(r.sink.runs).toHaveLength(2);
  expect(r.pipelineWithoutHeapHint.peakRssMB).toBeGreaterThan(0);
  expect(r.readAlone.clientCpuSecPerMillion).toBeGreaterThan(0);
  expect(r.readAlone.ratioBoundSharedCores).toBeGreaterThan(0);
  expect(r.warmupCassandraCpuSecPerMillion.length).toBeGreaterThanOrEqual(1); // warm-up rounds until Cassandra settles
  // CI machines have 2 cores and util-linux: the separate-cores phase must run, not skip.
  expect(r.separateCores.skipped).toBeUndefined();
  expect(r.separateCores.pipeline.eventsPerSec).toBeGreaterThan(0);
  expect(r.latency.events).toBeGreaterThan(0);
  expect(r.latency.p99Ms).toBeGreaterThan(0);
  expect(r.latency.over250msPct).toBeWithin(0, 100.000001); // a share: NaN, negative or over 100 would be a bug
  // 300 events/s never fill a memtable: the wait for the table's first compaction gives up after its 1 s.
  expect(r.latency.firstCompaction).toMatchObject({ finished: false });
  expect(r.latency.compactionWaitSec).toBe(1);
  // The local stack's Cassandra logs its GC: the window's pauses are counted from that log.
  expect(r.latency.cassandraGc).toMatchObject({ pauses: expect.any(Number), stoppedPct: expect.any(Number) });
  expect(r.settings.compaction).toMatch(/^off in the throughput phases/);
  // The window by second, split by whether Cassandra was compacting: every second lands in one of the two.
  const { compacting, notCompacting } = r.latency.byCompaction;
  expect(compacting.seconds + notCompacting.seconds).toBeGreaterThanOrEqual(2);
  expect(compacting.count + notCompacting.count).toBeGreaterThan(0);
  expect(compacting.count + notCompacting.count).toBeLessThanOrEqual(r.latency.events);
  // The same seconds split by the machine's idle CPU: every second falls on one side.
  const { saturated, notSaturated, meanIdleCores } = r.latency.byIdleCpu;
  expect(saturated.seconds + notSaturated.seconds).toBe(compacting.seconds + notCompacting.seconds);
  expect(saturated.count + notSaturated.count).toBe(compacting.count + notCompacting.count);
  expect(meanIdleCores).toBeWithin(0, cpus().length + 0.000001);
  expect(r.versions).toMatchObject({ kafka: "4.1.2", cassandra: expect.stringMatching(/^5\.0\./) });
}, 180_000);


test("bun run bench --sweep runs the latency phase at each rate, ascending then descending, and reports each run", async () => {
  await requireStack();
  const p = Bun.spawn(["bun", "scripts/bench.ts", "--sweep", "200,400", "--rounds", "2", "--latency-seconds", "2", "--warmup-seconds", "1",
    "--compaction-wait-seconds", "0"],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 170_000);
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  clearTimeout(timer);
  expect(await p.exited, err).toBe(0);
  expect(out).toMatch(/^\| 200 \| .* \| \d of 2 \|$/m);
  expect(out).toMatch(/^\| 400 \| .* \| \d of 2 \|$/m);
  const r = JSON.parse(readFileSync(/JSON: (\S+)/.exec(out)![1]!, "utf8"));
  expect(r.runs.map((x: { rate: number }) => x.rate)).toEqual([200, 400, 400, 200]);
  for (const x of r.runs) {
    expect(x.window.count).toBeGreaterThan(0);
    expect(x.window.over250msPct).toBeWithin(0, 100.000001);
    expect(x.byCompaction.compacting.seconds + x.byCompaction.notCompacting.seconds).toBeGreaterThanOrEqual(1);
    expect(x.firstCompaction).toEqual({ finished: false, afterSec: 0 }); // not waited for
  }
  expect(r.settings.compaction).toMatch(/^on/);
}, 180_000);

test("bun run bench --sweep refuses a rate that is not a number of events per second", () => {
  const p = Bun.spawnSync(["bun", "scripts/bench.ts", "--sweep", "20k"], { cwd: ROOT });
  expect(p.exitCode).toBe(2);
  expect(p.stderr.toString()).toContain('--sweep takes rates in events/s');
});
