/**
 * The short path (src/codec/avro-fast.ts) against the general one (formats.ts + validate.ts): on every record
 * the short path takes, both must give the same event and the sink the same row bytes; the rest it must
 * leave to the general path (null).
 */
import { describe, expect, test } from "bun:test";
import { malformed, seededRandom } from "../../src/simulate/activity.ts";
import { AvroEvent, readPlainAvro as readAvroEvent } from "../../src/codec/avro-fast.ts";
import { decodeRaw as decode, type Format } from "../../src/codec/formats.ts";
import { encode } from "../../src/codec/encode.ts";
import { BadRecord, type StoredEvent } from "../../src/codec/event.ts";
import { RowWriter } from "../../src/codec/row.ts";
import { eventSchedule } from "../../src/simulate/simulate.ts";
import { toEvent } from "../../src/codec/validate.ts";

const NOW = Date.parse("2026-11-23T00:00:00Z");
const schedule = eventSchedule({ seed: 7, users: 500, origin: Date.parse("2026-11-22T00:00:00Z"), eventStep: 37, outOfOrder: 0, lateFraction: 0, lateBy: 0 });
const general = (value: Buffer, format: Format): StoredEvent | BadRecord => {
  try {
    return toEvent(decode(value, format), NOW);
  } catch (e) {
    if (e instanceof BadRecord) return e;
    throw e;
  }
};
const plain = (e: StoredEvent) => ({ userId: e.userId, eventType: e.eventType, eventTime: e.eventTime, eventId: e.eventId, metadata: { ...e.metadata }, bucketDate: e.bucketDate });
const row = (e: StoredEvent) => Buffer.concat(new RowWriter(256).values(e));

/** The short path's answer must be null or exactly the general path's. */
function agree(value: Buffer, format: Format): "short" | "general" {
  const fast = readAvroEvent(value, format, NOW);
  const slow = general(value, format);
  if (!fast) return "general";
  expect(slow).not.toBeInstanceOf(BadRecord);
  const s = slow as StoredEvent;
  expect(plain(fast)).toEqual(plain(s));
  expect(row(fast).equals(row(s))).toBe(true);
  return "short";
}

describe("readPlainAvro", () => {
  test("takes every simulated event, in each Avro framing, and agrees with the general path", () => {
    for (let i = 0; i < 1000; i++) { // all nine event types of the simulator occur in the first thousand
      const e = schedule(i);
      for (const [format, as] of [["avro", "avro"], ["confluent", "confluent"], ["auto", "avro"], ["auto", "confluent"]] as const) {
        expect(agree(encode(e, as), format)).toBe("short");
      }
    }
  });

  test("leaves JSON, and anything unusual, to the general path", () => {
    const e = schedule(1);
    const cases: [string, Buffer, Format][] = [
      ["JSON", encode(e, "json"), "auto"],
      ["JSON as json", encode(e, "json"), "json"],
      ["non-ASCII metadata", encode({ ...e, metadata: { city: "Zürich" } }, "avro"), "avro"],
      ["a control character in the event type", encode({ ...e, event_type: "A\tB" }, "avro"), "avro"],
      ["a time more than a day ahead", encode({ ...e, event_time: NOW + 2 * 86_400_000 }, "avro"), "avro"],
      ["a time before 2000", encode({ ...e, event_time: 0 }, "avro"), "avro"],
      ["a __proto__ key", encode({ ...e, metadata: { __proto__x: "", ["__proto__"]: "y" } as Record<string, string> }, "avro"), "avro"],
      ["65 metadata entries", encode({ ...e, metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }, "avro"), "avro"],
      ["a 2049-character value", encode({ ...e, metadata: { k: "x".repeat(2049) } }, "avro"), "avro"],
      ["an empty key", encode({ ...e, metadata: { "": "v" } }, "avro"), "avro"],
      ["a byte after the record", Buffer.concat([encode(e, "avro"), Buffer.from([0])]), "avro"],
      ["a truncated record", encode(e, "avro").subarray(0, 60), "avro"],
      ["Confluent framing without its magic byte", Buffer.concat([Buffer.from([1, 0, 0, 0, 1]), encode(e, "avro")]), "confluent"],
      ["an empty value", Buffer.alloc(0), "auto"],
    ];
    // Upper-case hex digits are taken, and made canonical as the general path does.
    expect(agree(encode({ ...e, user_id: e.user_id.toUpperCase(), event_id: e.event_id.toUpperCase() }, "avro"), "avro")).toBe("short");
    for (const [what, value, format] of cases) {
      expect([what, readAvroEvent(value, format, NOW)]).toEqual([what, null]);
      agree(value, format);
    }
  });

  test("a map in blocks with byte sizes (negative counts), and a key twice (left to the general path)", () => {
    const e = schedule(2);
    const head = encode({ ...e, metadata: {} }, "avro");
    const body = head.subarray(0, head.length - 1); // without the empty map's 0
    const str = (s: string) => Buffer.concat([zigzag(Buffer.byteLength(s)), Buffer.from(s)]);
    const entries = Buffer.concat([str("a"), str("1"), str("b"), str("2")]);
    const blocks = Buffer.concat([body, zigzag(-2), zigzag(entries.length), entries, zigzag(1), str("c"), str("3"), Buffer.from([0])]);
    expect(agree(blocks, "avro")).toBe("short");
    expect(readAvroEvent(blocks, "avro", NOW)!.metadata).toEqual({ a: "1", b: "2", c: "3" });
    const twice = Buffer.concat([body, zigzag(2), str("a"), str("1"), str("a"), str("2"), Buffer.from([0])]);
    expect(readAvroEvent(twice, "avro", NOW)).toBeNull();
    expect(agree(twice, "avro")).toBe("general");
  });

  test("lengths of two bytes, and lengths written longer than they need (legal Avro): same answer", () => {
    const e = schedule(4);
    const head = encode({ ...e, metadata: {} }, "avro");
    const body = head.subarray(0, head.length - 1);
    const str = (s: string, len = zigzag(s.length)) => Buffer.concat([len, Buffer.from(s)]);
    for (const key of ["k", "x".repeat(63), "x".repeat(64), "x".repeat(128), "x".repeat(129)]) {
      for (const value of ["", "v".repeat(63), "v".repeat(64), "v".repeat(2048)]) {
        agree(Buffer.concat([body, zigzag(1), str(key), str(value), Buffer.from([0])]), "avro");
      }
    }
    // "a" → "1" with each length in two bytes (0x82 0x00), and the count (2) too.
    const padded = Buffer.concat([body, Buffer.from([0x84, 0x00]), str("a", Buffer.from([0x82, 0x00])), str("1", Buffer.from([0x82, 0x00])),
      str("b"), str("2"), Buffer.from([0])]);
    expect(agree(padded, "avro")).toBe("short");
    expect(readAvroEvent(padded, "avro", NOW)!.metadata).toEqual({ a: "1", b: "2" });
    // Three-byte lengths are left to the general path.
    expect(readAvroEvent(Buffer.concat([body, zigzag(1), str("a", Buffer.from([0x82, 0x80, 0x00])), str("1"), Buffer.from([0])]), "avro", NOW)).toBeNull();
  });

  test("malformed records: never a different answer from the general path", () => {
    const r = seededRandom(42);
    let short = 0;
    for (let i = 0; i < 20_000; i++) {
      const e = schedule(i % 500);
      const valid = encode(e, "avro");
      if (i % 2) {
        if (agree(malformed(r, valid, e), "auto") === "short") short++;
        continue;
      }
      // One to three bytes set at random: lengths, times, UUID digits, map counts, the framing.
      const bad = Buffer.from(valid);
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
      if (agree(bad, "auto") === "short") short++;
    }
    // Some mutations still decode to a valid event (a flipped bit in a value): the short path takes those.
    expect(short).toBeGreaterThan(0);
  });

  test("metadata is made an object only when asked, and reads the same bytes", () => {
    const e = schedule(3);
    const fast = readAvroEvent(encode(e, "avro"), "avro", NOW)!;
    expect(fast).toBeInstanceOf(AvroEvent);
    expect(fast.metadata).toEqual(e.metadata);
    expect(fast.metadata).toBe(fast.metadata); // made once
  });
});

function zigzag(n: number): Buffer {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z & 0x7f) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return Buffer.from(out);
}
