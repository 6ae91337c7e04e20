/** Dead letters always fit (src/consume/deadletter.ts truncateToFit): cut to the budget, with headers saying so. */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { truncateToFit } from "../../src/consume/deadletter.ts";

test("a message that fits is sent as it is", () => {
  const m = { key: Buffer.from("k"), value: Buffer.alloc(100, 1), headers: { "dlq.reason": "undecodable" } };
  expect(truncateToFit(m, 1000)).toBe(m);
});

test("a message over the budget: value cut so the whole fits, original size and SHA-256 in headers", () => {
  const value = Buffer.alloc(1_048_000, 7);
  value.write("not json at all", 0);
  const m = { key: Buffer.from("user-1"), value, headers: { "dlq.reason": "undecodable", source: "web" } };
  const budget = 1_048_588 - 1024;
  const cut = truncateToFit(m, budget);
  const size = (cut.key as Buffer).length + (cut.value as Buffer).length +
    Object.entries(cut.headers!).reduce((n, [k, v]) => n + k.length + 8 + Buffer.byteLength(String(v)), 0);
  expect(size).toBeLessThanOrEqual(budget);
  expect((cut.value as Buffer).length).toBeGreaterThan(budget - 1024); // cut to fit, not to nothing
  expect(value.subarray(0, (cut.value as Buffer).length).equals(cut.value as Buffer)).toBe(true); // a prefix
  expect(cut.headers).toMatchObject({
    "dlq.truncated": "true", "dlq.original.size": "1048000", "dlq.original.sha256": createHash("sha256").update(value).digest("hex"),
    "dlq.reason": "undecodable", source: "web",
  });
  // Cut again (the broker still refused it): the first cut's size and hash are kept.
  const again = truncateToFit(cut, 500_000);
  expect((again.value as Buffer).length).toBeLessThan(500_000);
  expect(again.headers!["dlq.original.size"]).toBe("1048000");
  expect(again.headers!["dlq.original.sha256"]).toBe(cut.headers!["dlq.original.sha256"]);
});
