import { describe, expect, test } from "bun:test";
import { decodeRaw as decode } from "../../src/codec/formats.ts";
import { encode } from "../../src/codec/encode.ts";
import { BadRecord } from "../../src/codec/event.ts";
import { bucketDate, LIMITS } from "../../src/codec/rules.ts";
import { toEvent } from "../../src/codec/validate.ts";
import { reason } from "../helpers/bad.ts";

const NOW = Date.parse("2026-11-22T12:00:00Z");
const ev = {
  user_id: "0b7e4c52-6f0e-4b8a-9a53-2f1f4d3c2a10",
  event_type: "PAGE_VIEW",
  event_time: NOW - 5000,
  event_id: "6a1d4c0e-8b2f-4e71-b9c4-1e2d3f4a5b6c",
  metadata: { page: "/home", device: "mobile" },
};

describe("decode", () => {
  for (const format of ["avro", "confluent", "json"] as const) {
    test(`${format} round-trips, explicitly and with auto`, () => {
      const bytes = encode(ev, format);
      expect(decode(bytes, format)).toEqual(ev);
      expect(decode(bytes, "auto")).toEqual(ev);
    });
  }

  test("plain Avro of a valid event starts with 0x48 (the length of a UUID)", () => {
    expect(encode(ev, "avro")[0]).toBe(0x48);
  });

  test("the seed's JSON shape, with scalar metadata values and camelCase", () => {
    const json = Buffer.from(JSON.stringify({ userId: ev.user_id, eventType: "CLICK", eventTime: NOW, eventId: ev.event_id,
      metadata: { n: 3, ok: true } }));
    const e = toEvent(decode(json, "auto"), NOW);
    expect(e.metadata).toEqual({ n: "3", ok: "true" });
    expect(e.eventType).toBe("CLICK");
  });

  test("garbage, truncated and trailing bytes are undecodable", () => {
    const avro = encode(ev, "avro");
    expect(reason(() => decode(Buffer.from([0xff, 0xfe, 0x01]), "auto"))).toBe("undecodable");
    expect(reason(() => decode(avro.subarray(0, avro.length - 3), "auto"))).toBe("undecodable");
    expect(reason(() => decode(Buffer.concat([avro, Buffer.from([1, 2])]), "auto"))).toBe("undecodable");
    expect(reason(() => decode(Buffer.from([0, 0, 0]), "auto"))).toBe("undecodable");
    expect(reason(() => decode(Buffer.alloc(0), "auto"))).toBe("undecodable");
    expect(reason(() => decode(null, "auto"))).toBe("undecodable");
    expect(reason(() => decode(Buffer.from("{not json"), "auto"))).toBe("undecodable");
    expect(reason(() => decode(avro, "json"))).toBe("undecodable");
    expect(reason(() => decode(avro, "confluent"))).toBe("undecodable");
  });

  test("a corrupted count is undecodable at once (avsc alone looped on it for good)", () => {
    // Found by fuzzing (test/unit/avro-fast.test.ts): a valid event with its first byte changed, so that
    // user_id reads as 6 characters and a later map count as a huge number.
    const hung = Buffer.from(
      "0c38656434613538352d323236352d343632642d623134332d65663533346433636137633412564945575f4954454decbdec88c0684835326565313735642d653362382d343363632d393166322d356563323337303464353133101473657373826f6e5f69644862313538333337312d663066362d346336652d396464642d6330623235363861323135640c6465766963650c6d6f62696c6514757365725f6167656e748e024d6f7a696c6c612f352e3020286950686f6e653b20435055206950686f6e65204f532031385f31206c696b65204d6163204f53205829204170706c655765624b69742f3630352e312e313520284b48544d4c2c206c696b65204765636b6f292056657273696f6e2f31382e31204d6f62696c652f313545313438205361666172692f3630342e310c736f757263650c736f6369616c107265666572726572ed68747470733a2f2f73686f702e6578616d706c652f0e6974656d5f696408393936370a70726963650c3139352e393808706167651c2f702f7368697274732f3939363700",
      "hex");
    const t0 = performance.now();
    expect(reason(() => decode(hung, "auto"))).toBe("undecodable");
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("validate and transform", () => {
  const raw = (over: Record<string, unknown>) => ({ ...ev, ...over });

  test("a valid event becomes a row with its UTC bucket_date", () => {
    expect(toEvent(ev, NOW)).toEqual({ userId: ev.user_id, eventType: "PAGE_VIEW", eventTime: ev.event_time,
      eventId: ev.event_id, metadata: ev.metadata, bucketDate: "2026-11-22" });
  });

  test("bucket_date is the UTC date, right across midnight", () => {
    expect(bucketDate(Date.parse("2026-11-22T23:59:59.999Z"))).toBe("2026-11-22");
    expect(bucketDate(Date.parse("2026-11-23T00:00:00.000Z"))).toBe("2026-11-23");
    expect(bucketDate(Date.parse("2000-01-01T00:00:00.000Z"))).toBe("2000-01-01");
    expect(bucketDate(Date.parse("2026-11-22T23:59:59.999Z"))).toBe("2026-11-22");
  });

  test("UUIDs are normalised to lower case", () => {
    expect(toEvent(raw({ user_id: ev.user_id.toUpperCase() }), NOW).userId).toBe(ev.user_id);
  });

  test("each kind of bad input has its reason", () => {
    expect(reason(() => toEvent(raw({ user_id: undefined }), NOW))).toBe("missing_field");
    expect(reason(() => toEvent(raw({ event_time: null }), NOW))).toBe("missing_field");
    expect(reason(() => toEvent(raw({ user_id: "not-a-uuid" }), NOW))).toBe("invalid_uuid");
    expect(reason(() => toEvent(raw({ event_id: 42 }), NOW))).toBe("wrong_type");
    expect(reason(() => toEvent(raw({ event_type: "" }), NOW))).toBe("invalid_event_type");
    expect(reason(() => toEvent(raw({ event_type: "x".repeat(65) }), NOW))).toBe("invalid_event_type");
    expect(reason(() => toEvent(raw({ event_type: "a\u0000b" }), NOW))).toBe("invalid_event_type");
    expect(reason(() => toEvent(raw({ event_type: 7 }), NOW))).toBe("wrong_type");
    expect(reason(() => toEvent(raw({ event_time: "yesterday" }), NOW))).toBe("wrong_type");
    expect(reason(() => toEvent(raw({ event_time: Number.NaN }), NOW))).toBe("invalid_event_time");
    expect(reason(() => toEvent(raw({ event_time: 1.5e12 + 0.5 }), NOW))).toBe("invalid_event_time");
    expect(reason(() => toEvent(raw({ event_time: -1 }), NOW))).toBe("invalid_event_time");
    expect(reason(() => toEvent(raw({ event_time: NOW + LIMITS.maxFutureMs + 1 }), NOW))).toBe("invalid_event_time");
    expect(reason(() => toEvent(raw({ metadata: { a: { nested: 1 } } }), NOW))).toBe("invalid_metadata");
    expect(reason(() => toEvent(raw({ metadata: { a: null } }), NOW))).toBe("invalid_metadata");
    expect(reason(() => toEvent(raw({ metadata: [1] }), NOW))).toBe("wrong_type");
    const many = Object.fromEntries(Array.from({ length: LIMITS.metadataMaxEntries + 1 }, (_, i) => [`k${i}`, "v"]));
    expect(reason(() => toEvent(raw({ metadata: many }), NOW))).toBe("invalid_metadata");
    expect(reason(() => toEvent(raw({ metadata: { k: "v".repeat(LIMITS.metadataValueMaxLength + 1) } }), NOW))).toBe("invalid_metadata");
  });

  test("metadata at the bounds is accepted; absent metadata is an empty map", () => {
    const full = Object.fromEntries(Array.from({ length: LIMITS.metadataMaxEntries }, (_, i) => [`k${i}`, "v".repeat(100)]));
    expect(Object.keys(toEvent(raw({ metadata: full }), NOW).metadata)).toHaveLength(LIMITS.metadataMaxEntries);
    expect(toEvent(raw({ metadata: undefined }), NOW).metadata).toEqual({});
  });
});
