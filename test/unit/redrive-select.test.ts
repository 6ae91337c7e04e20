// Which dead letters redrive re-sends, and the loop guard (src/redrive/select.ts).
import { describe, expect, test } from "bun:test";
import type { KafkaMessage } from "kafkajs";
import { type Filter, marker, markedOffset, redrivenMessage, select } from "../../src/redrive/select.ts";

const FILTER: Filter = { sourceTopic: "user-events", reasons: [], since: null, until: null, sourceOffsets: [], maxRedrives: 1 };

function deadLetter(offset: string, headers: Record<string, string> = {}): KafkaMessage {
  return {
    offset, key: Buffer.from("u1"), value: Buffer.from('{"x":1}'), timestamp: "0", attributes: 0, size: 0,
    headers: {
      origin: Buffer.from("web"),
      "dlq.reason": Buffer.from("invalid_event_time"), "dlq.error": Buffer.from("too far ahead"),
      "dlq.source.topic": Buffer.from("user-events"), "dlq.source.partition": Buffer.from("2"), "dlq.source.offset": Buffer.from("150"),
      "dlq.source.timestamp": Buffer.from("1"), "dlq.time": Buffer.from("2026-12-03T10:00:00.000Z"),
      ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    },
  } as unknown as KafkaMessage;
}

describe("select", () => {
  test("a dead letter of the source topic, with no filter, is sent", () => {
    expect(select(deadLetter("7"), FILTER, new Set())).toBe("send");
  });
  test("by reason", () => {
    expect(select(deadLetter("7"), { ...FILTER, reasons: ["invalid_event_time", "late"] }, new Set())).toBe("send");
    expect(select(deadLetter("7"), { ...FILTER, reasons: ["invalid_uuid"] }, new Set())).toBe("filtered");
  });
  test("by time: since inclusive, until exclusive", () => {
    const at = Date.parse("2026-12-03T10:00:00.000Z");
    expect(select(deadLetter("7"), { ...FILTER, since: at }, new Set())).toBe("send");
    expect(select(deadLetter("7"), { ...FILTER, since: at + 1 }, new Set())).toBe("filtered");
    expect(select(deadLetter("7"), { ...FILTER, until: at }, new Set())).toBe("filtered");
    expect(select(deadLetter("7"), { ...FILTER, until: at + 1 }, new Set())).toBe("send");
  });
  test("by source offset range, inclusive, of the right partition", () => {
    expect(select(deadLetter("7"), { ...FILTER, sourceOffsets: [{ partition: 2, first: 150, last: 150 }] }, new Set())).toBe("send");
    expect(select(deadLetter("7"), { ...FILTER, sourceOffsets: [{ partition: 2, first: 151, last: 900 }] }, new Set())).toBe("filtered");
    expect(select(deadLetter("7"), { ...FILTER, sourceOffsets: [{ partition: 1, first: 0, last: 900 }] }, new Set())).toBe("filtered");
  });
  test("another pipeline's dead letters, markers and records without dlq.reason are not selected", () => {
    expect(select(deadLetter("7"), { ...FILTER, sourceTopic: "orders" }, new Set())).toBe("other_topic");
    const m = { ...deadLetter("9"), value: null, headers: marker(0, "7", "user-events", new Date()).headers } as unknown as KafkaMessage;
    expect(select(m, FILTER, new Set())).toBe("marker");
    expect(markedOffset(m)).toBe("7");
    expect(select({ ...deadLetter("8"), headers: {} } as unknown as KafkaMessage, FILTER, new Set())).toBe("not_a_dead_letter");
  });
  test("loop guard: a dead letter a marker names is refused", () => {
    expect(select(deadLetter("7"), FILTER, new Set(["7"]))).toBe("already_redriven");
    expect(select(deadLetter("8"), FILTER, new Set(["7"]))).toBe("send");
  });
  test("loop guard: a redriven record dead-lettered again is refused at REDRIVE_MAX", () => {
    expect(select(deadLetter("7", { "dlq.redriven": "1" }), FILTER, new Set())).toBe("redriven_too_often");
    expect(select(deadLetter("7", { "dlq.redriven": "1" }), { ...FILTER, maxRedrives: 2 }, new Set())).toBe("send");
  });
  test("a truncated value is not the original: refused", () => {
    expect(select(deadLetter("7", { "dlq.truncated": "true" }), FILTER, new Set())).toBe("truncated");
  });
});

describe("redrivenMessage", () => {
  test("the original key, value and headers, ours removed, the guard's added", () => {
    const m = redrivenMessage(deadLetter("7"), "user-events.dlq", 0);
    expect(m.key?.toString()).toBe("u1");
    expect(m.value?.toString()).toBe('{"x":1}');
    expect(Object.keys(m.headers!).sort()).toEqual(["dlq.redriven", "dlq.redriven.from", "origin"]);
    expect(m.headers!["dlq.redriven"]).toBe("1");
    expect(m.headers!["dlq.redriven.from"]).toBe("user-events.dlq/0/7");
  });
  test("the count goes up on each redrive", () => {
    const m = redrivenMessage(deadLetter("7", { "dlq.redriven": "2", "dlq.redriven.from": "user-events.dlq/0/3" }), "user-events.dlq", 1);
    expect(m.headers!["dlq.redriven"]).toBe("3");
    expect(m.headers!["dlq.redriven.from"]).toBe("user-events.dlq/1/7");
  });
});
