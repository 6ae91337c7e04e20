/** The bench's settings: its flags, and what every phase shares (the run's id, the deployed environment). */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist/events");
export const { values: opt } = parseArgs({
  args: process.argv.slice(2),
  // The other scripts in scripts/bench/ (ab.ts, kafkajs-decode.ts) have arguments of their own and read few of these.
  strict: !/\/bench\/(ab|kafkajs-decode|threads)\.ts$/.test(process.argv[1] ?? "") as true,
  options: {
    events: { type: "string", default: "1000000" },
    "latency-seconds": { type: "string", default: "60" },
    "warmup-seconds": { type: "string", default: "10" },
    "compaction-wait-seconds": { type: "string", default: "90" },
    rate: { type: "string" },
    users: { type: "string", default: "10000" },
    keep: { type: "boolean", default: false },
    sweep: { type: "string" },
    save: { type: "boolean", default: false },
    rounds: { type: "string", default: "2" },
    consumers: { type: "string" },
    windows: { type: "boolean", default: false },
    writes: { type: "boolean", default: false },
    pairs: { type: "string", default: "3" },
    collect: { type: "boolean", default: false },
    clients: { type: "string", default: "32" },
    "collect-seconds": { type: "string", default: "20" },
    "no-heap-hint": { type: "boolean", default: false },
  },
});
/** --consumers runs only the scale-out phase (on the cluster), whose backlog defaults to 300,000 events. */
export const N = Number(opt.consumers !== undefined && !process.argv.some((a) => a.startsWith("--events")) ? 300_000 : opt.events);
export const LATENCY_SECONDS = Number(opt["latency-seconds"]);
export const USERS = Number(opt.users);
export const SWEEP = opt.sweep === undefined ? null : opt.sweep.split(",").map(Number);
if (SWEEP?.some((r) => !Number.isInteger(r) || r <= 0) || !(Number(opt.rounds) >= 1) || !(Number(opt["warmup-seconds"]) >= 0) || !(Number(opt["compaction-wait-seconds"]) >= 0)) {
  console.error(`bench: --sweep takes rates in events/s, such as 12000,16000,20000, --rounds a count, --warmup-seconds and --compaction-wait-seconds seconds: got "${opt.sweep}", "${opt.rounds}", "${opt["warmup-seconds"]}" and "${opt["compaction-wait-seconds"]}"`);
  process.exit(2);
}
export const SEED = 20261122;
/** The environment deploy/events-consume.service gives the binary (the heap-sizing hint, Bun's counterpart of
 *  Node's --max-old-space-size, and the allocator's purge delay): the pipeline is measured as deployed. */
export const unitEnv = (unit: string): Record<string, string> => Object.fromEntries(
  [...readFileSync(join(ROOT, "deploy", unit), "utf8").matchAll(/^Environment=((?:BUN|MIMALLOC)_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
);
export const DEPLOYED_ENV = unitEnv("events-consume.service");
export const HEAP_HINT = Object.entries(DEPLOYED_ENV).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)";
export const ORIGIN = Date.parse("2026-11-22T00:00:00Z");
export const run = Date.now().toString(36);
export const say = (msg: string) => console.error(`bench: ${msg}`);

export const WARMUP = Number(opt["warmup-seconds"]);
/**
 * After the warm-up, the window waits (at most this long) for the table's first compaction to finish. The first
 * compaction after Cassandra starts also compiles its code: its JIT took 0.2-0.5 of a core for 3-5 s on top of
 * the compaction's own (per-thread CPU, 2026-11-23), and those seconds' p99 was 400-750 ms where the next
 * compactions' stayed under 250. A node pays that once per start; a window that always began 10 s in caught it
 * whenever the bench ran on a fresh Cassandra (as after `stack up`), and a steady state is what the window is for.
 * Later compactions come at their own pace inside the window, as in real use.
 */
export const COMPACTION_WAIT = Number(opt["compaction-wait-seconds"]);
/** The latency phase's consumer serves its status here: the bench reads its histogram and lag from it. */
export const LATENCY_STATUS_ADDR = "127.0.0.1:9470";
export const STATUS = `http://${LATENCY_STATUS_ADDR}`;
