/**
 * The failure policy (src/common/failure.ts) row by row: each row's example error, as the library raises
 * it, is decided by that row; stop rows give one line with the cause and what to do; the README holds the
 * table exactly as the code renders it.
 */
import { describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from "kafkajs";
import { classify, decide, POLICY, policyTable, Stop } from "../../src/common/failure.ts";

describe("failure policy", () => {
  for (const [i, rule] of POLICY.entries()) {
    test(`row ${i + 1}: ${rule.from}: ${rule.error} → ${rule.action}`, () => {
      const err = rule.example();
      const v = classify(rule.from, err);
      expect(v.rule).toBe(rule);
      expect(v.action).toBe(rule.action);
      if (rule.action === "stop") {
        expect(() => decide(rule.from, err)).toThrow(Stop);
        expect(v.line).toContain(rule.then);
        expect(v.line.startsWith(`${rule.from}: `)).toBe(true);
        expect(v.line).not.toContain("\n");
      } else {
        expect(decide(rule.from, err)).toBe(rule.action);
      }
    });
  }

  test("every origin has a catch-all, so no error goes unclassified", () => {
    for (const from of new Set(POLICY.map((r) => r.from))) {
      expect(classify(from, new Error("something new")).action).toBeDefined();
      expect(classify(from, "not even an Error").action).toBeDefined();
    }
  });

  test("the cases the issue names", () => {
    const { ResponseError } = cassandra.errors;
    const c = cassandra.types.responseErrorCodes;
    // A revoked GRANT or an encoding bug must stop, never dead-letter valid rows.
    expect(classify("cassandra", new ResponseError(c.unauthorized, "no MODIFY permission")).action).toBe("stop");
    expect(classify("cassandra", new ResponseError(c.configError, "x")).action).toBe("stop");
    expect(classify("cassandra", new ResponseError(c.invalid, "unconfigured table user_events")).action).toBe("stop");
    expect(classify("cassandra", new RangeError("offset out of range")).action).toBe("stop");
    expect(classify("cassandra", new ResponseError(c.writeTimeout, "timeout")).action).toBe("wait");
    expect(classify("cassandra", new ResponseError(c.overloaded, "overloaded")).action).toBe("wait");
    expect(classify("cassandra", new cassandra.errors.NoHostAvailableError({ "127.0.0.1:9042": new Error("ECONNREFUSED") })).action).toBe("wait");
    // The dead-letter producer: permanent errors are not retried for ever.
    const tooLarge = new KafkaJSProtocolError({ type: "MESSAGE_TOO_LARGE", code: 10, retriable: false, message: "too large" } as never);
    expect(classify("dead-letter producer", tooLarge).action).toBe("reject");
    const denied = new KafkaJSProtocolError({ type: "TOPIC_AUTHORIZATION_FAILED", code: 29, retriable: false, message: "denied" } as never);
    expect(classify("dead-letter producer", new KafkaJSNumberOfRetriesExceeded(denied, { retryCount: 5, retryTime: 1 } as never)).action).toBe("stop");
    const replicas = new KafkaJSProtocolError({ type: "NOT_ENOUGH_REPLICAS", code: 19, retriable: true, message: "isr" } as never);
    expect(classify("dead-letter producer", replicas).action).toBe("wait");
    expect(classify("kafka consumer", new KafkaJSConnectionError("Connection error")).action).toBe("wait");
  });

  test("the README holds the table as the code renders it", async () => {
    const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
    // To refresh it: bun -e 'console.log((await import("./src/common/failure.ts")).policyTable())'
    if (!readme.includes(policyTable())) throw new Error("README.md does not hold the failure-policy table as policyTable() renders it");
  });
});
