#!/usr/bin/env bun
/**
 * `bun run demo`: the whole system on this machine, in one command.
 *   1. brings the local Kafka + Cassandra up (scripts/stack.ts; first run resolves them with Maven)
 *   2. builds the single executable dist/events
 *   3. `events migrate`
 *   4. runs `events consume`, `events simulate` and `events collect` (with the demo shop) side by side, and prints
 *      where the dashboard and the shop are: click around the shop and look yourself up on the dashboard
 * Ctrl-C stops both cleanly (the simulator flushes, the consumer drains and commits); the stack keeps
 * running for the next demo: `bun run stack down` stops it.
 *
 *   bun run demo [--rate 500] [--for 60s]      (--for: stop by itself after that long)
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/cli/config.ts";
import { stack } from "./stack.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist/events");
const LOGS = join(ROOT, ".stack/logs");
const CONSUME_STATUS = "127.0.0.1:9464";
const SIMULATE_STATUS = "127.0.0.1:9465";
const COLLECT_STATUS = "127.0.0.1:9466";
const SHOP = "127.0.0.1:8080";

const { values } = parseArgs({ args: process.argv.slice(2), options: { rate: { type: "string", default: "500" }, for: { type: "string" } } });

function step(msg: string): void {
  console.log(`demo: ${msg}`);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status})`);
}

async function main(): Promise<number> {
  step("bringing up the local Kafka + Cassandra");
  if ((await stack(["up"])) !== 0) return 1;
  step("building dist/events");
  run("bun", ["run", "build"]);
  step("migrating");
  run(BIN, ["migrate", "--log-level", "warn"]);

  mkdirSync(LOGS, { recursive: true });
  const start = (name: string, args: string[], statusAddr: string) => {
    const log = openSync(join(LOGS, `demo-${name}.log`), "w");
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ["ignore", log, log], env: { ...process.env, STATUS_ADDR: statusAddr } });
    const exited = new Promise<number>((r) => child.on("exit", (code) => r(code ?? 1)));
    return { child, exited };
  };
  const consume = start("consume", ["consume"], CONSUME_STATUS);
  const simulate = start("simulate", ["simulate", "--rate", values.rate!, "--users", "5000", "--out-of-order", "20s",
    "--late-fraction", "0.002", "--invalid-fraction", "0.002"], SIMULATE_STATUS);
  const collect = start("collect", ["collect", "--collect-addr", SHOP, "--demo-shop", "true"], COLLECT_STATUS);

  console.log(`
  dashboard:         http://${CONSUME_STATUS}/
  the shop:          http://${SHOP}/demo/shop   (your clicks are events: find your user id on the dashboard)
  simulator status:  http://${SIMULATE_STATUS}/
  collector status:  http://${COLLECT_STATUS}/
  metrics:           http://${CONSUME_STATUS}/metrics
  logs:              ${LOGS}/demo-consume.log, demo-simulate.log, demo-collect.log

  simulating ${values.rate} events/s into Kafka topic user-events, consuming into Cassandra keyspace event_streaming.
  Ctrl-C stops all three (the stack keeps running; \`bun run stack down\` stops it).
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    step("stopping: simulator and collector first (they flush), then the consumer (drains, commits)");
    simulate.child.kill("SIGTERM");
    collect.child.kill("SIGTERM");
    await Promise.all([simulate.exited, collect.exited]);
    consume.child.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (values.for) setTimeout(stop, parseDuration(values.for));

  // If one dies on its own, stop the others: a half demo would mislead.
  const first = await Promise.race([consume.exited.then((c) => ["consume", c] as const), simulate.exited.then((c) => ["simulate", c] as const),
    collect.exited.then((c) => ["collect", c] as const)]);
  if (!stopping) step(`${first[0]} exited (${first[1]}) on its own; see ${LOGS}/demo-${first[0]}.log`);
  await stop();
  const [c, s, k] = await Promise.all([consume.exited, simulate.exited, collect.exited]);
  step(`done: consume exited ${c}, simulate exited ${s}, collect exited ${k}`);
  return c === 0 && s === 0 && k === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  },
);
