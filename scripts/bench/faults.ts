#!/usr/bin/env bun
/**
 * The fault tests' measured figures as a result file: reads their output (the `fault-result` lines that
 * test/integration/faults.test.ts prints) on stdin, writes JSON, prints a markdown table.
 *
 *   bun test test/integration/faults.test.ts | bun scripts/bench/faults.ts [--save]
 *
 * JSON under .out/bench/ (with --save: bench/results/, to be committed: docs/benchmark.md quotes only those).
 */
import { execSync } from "node:child_process";
import { machine, writeReport } from "./measure.ts";

const lines = (await new Response(Bun.stdin.stream()).text()).split("\n");
const scenarios = lines.filter((l) => l.startsWith("fault-result ")).map((l) => JSON.parse(l.slice("fault-result ".length)) as Record<string, unknown>);
const passed = lines.filter((l) => l.startsWith("(pass)")).length;
const failed = lines.filter((l) => l.startsWith("(fail)")).length;
if (scenarios.length === 0) {
  console.error("faults: no fault-result lines on stdin (pipe `bun test test/integration/faults.test.ts` into this)");
  process.exit(2);
}
const commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
const result = { date: new Date().toISOString(), commit, machine: machine(), bun: Bun.version, passed, failed, scenarios };
const file = writeReport(`faults-${result.date}`, result);
const cell = (v: unknown) => (v === undefined ? "–" : String(v));
console.log(`| scenario | what was done | lost | duplicate rows | dead letters beyond those expected | replayed writes |
| --- | --- | --- | --- | --- | --- |
${scenarios.map((s) => `| ${s.scenario} | ${s.done} | ${cell(s.lost)} | ${cell(s.duplicateRows)} | ${cell(s.extraDeadLetters ?? s.deadLetters)} | ${cell(s.replayedWrites)} |`).join("\n")}

tests in the run: ${passed} passed, ${failed} failed; commit ${commit}
JSON: ${file}`);
