import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { timerSlack } from "../../scripts/stack.ts";

// The local Cassandra is started with 1 ms of timer slack (scripts/stack.ts explains why); this checks the
// mechanism on a child anyone may read: the child has the slack, and the starting thread (JavaScript runs on the main one) gets its own back.
test("a process started through timerSlack() runs with that slack, and the starter's is put back", () => {
  expect(process.platform).toBe("linux"); // prctl(PR_SET_TIMERSLACK) is Linux's
  const own = readFileSync("/proc/self/timerslack_ns", "utf8").trim();
  const child = timerSlack(1_000_000, () => spawnSync("cat", ["/proc/self/timerslack_ns"], { encoding: "utf8" }));
  expect(child.stdout.trim()).toBe("1000000");
  expect(readFileSync("/proc/self/timerslack_ns", "utf8").trim()).toBe(own);
});
