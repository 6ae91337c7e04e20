#!/usr/bin/env bun
/**
 * `bun scripts/bench/threads.ts [--service cassandra] [--seconds 60] [--what "…"] [--save]`: where a stack service's
 * CPU goes, by thread: every thread's utime + stime from /proc/<pid>/task/<tid>/stat at the start and the end of
 * the window, summed by thread name with its digits folded (`SharedPool-Worker-3` and `-7` are one pool). Run it
 * while a load runs (e.g. `bun scripts/bench/ab.ts … --warmup` in another shell): the JVM's own threads (GC,
 * compiler) are among them, which a Java profiler's samples do not show.
 *
 * JSON under .out/bench/ (with --save: bench/results/), and the table on stdout.
 */
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CLOCK_TICKS, machine, stackPid, writeReport } from "./measure.ts";

const { values: o } = parseArgs({
  args: process.argv.slice(2),
  options: { service: { type: "string", default: "cassandra" }, seconds: { type: "string", default: "60" }, what: { type: "string", default: "" }, save: { type: "boolean", default: false } },
});
const pid = stackPid(String(o.service));

function threads(): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, { name, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

const before = threads();
await Bun.sleep(Number(o.seconds) * 1000);
const after = threads();
const byName = new Map<string, number>();
for (const [tid, t] of after) {
  const key = t.name.replace(/\d+/g, "N");
  byName.set(key, (byName.get(key) ?? 0) + (t.ticks - (before.get(tid)?.ticks ?? 0)) / CLOCK_TICKS);
}
const total = [...byName.values()].reduce((s, x) => s + x, 0);
const rows = [...byName].sort((a, b) => b[1] - a[1]).filter(([, sec]) => sec > 0)
  .map(([thread, sec]) => ({ thread, cpuSec: Number(sec.toFixed(2)), share: Number(((sec / total) * 100).toFixed(1)) }));
console.log(`| thread (digits folded) | CPU s | share |\n| --- | --- | --- |`);
for (const r of rows.slice(0, 15)) console.log(`| ${r.thread} | ${r.cpuSec} | ${r.share} % |`);
console.log(`total ${total.toFixed(1)} CPU s in ${o.seconds} s`);
const date = new Date().toISOString();
const file = writeReport(`threads-${o.service}-${date}`, { date, what: o.what, service: o.service, seconds: Number(o.seconds), machine: machine(), totalCpuSec: Number(total.toFixed(2)), threads: rows });
console.log(`JSON: ${file}`);
