// Writer schemas from a registry: resolution to the reader schema, and what each registry answer does (the
// failure policy's "schema registry" rows), with fetch injected: no registry here.
import { describe, expect, test } from "bun:test";
import { decodeEvent } from "../../src/codec/decode.ts";
import { BadRecord } from "../../src/codec/event.ts";
import { writerOf } from "../../src/codec/resolved.ts";
import { fits } from "../../src/codec/formats.ts";
import { Stop } from "../../src/common/failure.ts";
import { SchemaRegistry } from "../../src/registry/registry.ts";
import schema from "../../src/codec/user_event.avsc" with { type: "json" };
import { framed, WRITERS } from "../helpers/schemas.ts";
import { reason } from "../helpers/bad.ts";
import avro from "avsc";

const NOW = Date.parse("2026-12-03T12:00:00Z");
const ev = {
  user_id: "0b7e4c52-6f0e-4b8a-9a53-2f1f4d3c2a10", event_type: "ADD_TO_CART", event_time: NOW - 5000,
  event_id: "6a1d4c0e-8b2f-4e71-b9c4-1e2d3f4a5b6c", metadata: { page: "/p/42", device: "mobile" },
};
const stored = { userId: ev.user_id, eventType: ev.event_type, eventTime: ev.event_time, eventId: ev.event_id, metadata: ev.metadata, bucketDate: "2026-12-03" };

const lookupOf = (map: Record<number, object | "unknown">) => ({
  lookup: (id: number) => (map[id] === "unknown" ? { kind: "unknown" as const } : map[id] ? writerOf(JSON.stringify(map[id])) : undefined),
});
const schemas = lookupOf({ 1: schema, 7: WRITERS.addedOptional, 8: WRITERS.reordered, 9: WRITERS.incompatible, 10: "unknown" });
const plain = (e: unknown) => {
  const x = e as Record<string, unknown>;
  return { userId: x.userId, eventType: x.eventType, eventTime: x.eventTime, eventId: x.eventId, metadata: x.metadata, bucketDate: x.bucketDate };
};

describe("resolution to the reader schema", () => {
  test("our own schema's id is read as plain Avro", () => {
    expect(writerOf(JSON.stringify(schema)).kind).toBe("same");
    expect(plain(decodeEvent(framed(schema, 1, ev), "confluent", NOW, schemas))).toEqual(stored);
  });
  test("a writer that added an optional field: every field right, the new one ignored", () => {
    const v = framed(WRITERS.addedOptional, 7, { ...ev, session_id: "s-1" });
    expect(plain(decodeEvent(v, "confluent", NOW, schemas))).toEqual(stored);
    expect(plain(decodeEvent(v, "auto", NOW, schemas))).toEqual(stored);
  });
  test("a writer with the fields reordered: every field right", () => {
    expect(plain(decodeEvent(framed(WRITERS.reordered, 8, ev), "confluent", NOW, schemas))).toEqual(stored);
  });
  test("the rules still apply to resolved records", () => {
    expect(reason(() => decodeEvent(framed(WRITERS.reordered, 8, { ...ev, user_id: "nope" }), "confluent", NOW, schemas))).toBe("invalid_uuid");
  });
  test("an id the registry does not know: unknown_schema; one that cannot resolve: incompatible_schema", () => {
    expect(reason(() => decodeEvent(framed(schema, 10, ev), "confluent", NOW, schemas))).toBe("unknown_schema");
    expect(writerOf(JSON.stringify(WRITERS.incompatible)).kind).toBe("incompatible");
    expect(reason(() => decodeEvent(framed(schema, 9, ev), "confluent", NOW, schemas))).toBe("incompatible_schema");
  });
  test("a corrupted count is refused before avsc loops on it; truncation and trailing bytes are undecodable", () => {
    const v = framed(WRITERS.reordered, 8, ev);
    // Reordered: event_id (37 bytes with its length), then the metadata map's block count.
    const corrupt = Buffer.concat([v.subarray(0, 5 + 37), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), v.subarray(5 + 38)]);
    expect(reason(() => decodeEvent(corrupt, "confluent", NOW, schemas))).toBe("undecodable");
    expect(reason(() => decodeEvent(v.subarray(0, v.length - 3), "confluent", NOW, schemas))).toBe("undecodable");
    expect(reason(() => decodeEvent(Buffer.concat([v, Buffer.from([0])]), "confluent", NOW, schemas))).toBe("undecodable");
  });
  test("fits() agrees with avsc on well-formed records of several types", () => {
    const t = avro.Type.forSchema({ type: "record", name: "R", fields: [
      { name: "a", type: ["null", "string"] }, { name: "b", type: { type: "array", items: "int" } }, { name: "c", type: "double" },
      { name: "d", type: { type: "fixed", name: "F", size: 3 } }, { name: "e", type: { type: "enum", name: "E", symbols: ["X", "Y"] } },
      { name: "f", type: "boolean" }, { name: "g", type: { type: "map", values: "bytes" } }, { name: "h", type: "float" },
    ] });
    const b = t.toBuffer({ a: "x", b: [1, 2, 3], c: 1.5, d: Buffer.from("abc"), e: "Y", f: true, g: { k: Buffer.from("v") }, h: 2 });
    const r = { at: 0 };
    expect(fits(t, b, r)).toBe(true);
    expect(r.at).toBe(b.length);
    expect(fits(t, b.subarray(0, b.length - 1), { at: 0 })).toBe(false);
  });
  test("without a registry, today's behaviour: the id is not looked at", () => {
    expect(plain(decodeEvent(framed(schema, 4242, ev), "confluent", NOW))).toEqual(stored);
  });
  test("a schema id not loaded first is a bug, not bad input", () => {
    expect(() => decodeEvent(framed(schema, 55, ev), "confluent", NOW, schemas)).toThrow("was not loaded");
  });
});

describe("the registry's answers (fetch injected)", () => {
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
  const never = new AbortController().signal;
  const registry = (answers: (() => Response | Promise<Response>)[]) => {
    const calls: string[] = [];
    const http = (async (url: string) => {
      calls.push(String(url));
      const next = answers.shift();
      if (!next) throw new Error("no more answers");
      return next();
    }) as unknown as typeof fetch;
    return { r: new SchemaRegistry({ url: "http://127.0.0.1:1/apis/ccompat/v7/", username: "u", password: "secret" }, http), calls };
  };

  test("a schema is fetched once per id and kept", async () => {
    const { r, calls } = registry([() => json(200, { schema: JSON.stringify(WRITERS.reordered) })]);
    await r.load([8, 8], never);
    await r.load([8], never);
    expect(calls).toEqual(["http://127.0.0.1:1/apis/ccompat/v7/schemas/ids/8"]);
    expect(r.lookup(8)?.kind).toBe("resolved");
  });
  test("404 with error_code 40403: unknown (its records are dead-lettered)", async () => {
    const { r } = registry([() => json(404, { error_code: 40403, message: "No content with id 10" })]);
    await r.load([10], never);
    expect(r.lookup(10)).toEqual({ kind: "unknown" });
  });
  test("unreachable and 503: waited out with backoff, then loaded", async () => {
    const { r, calls } = registry([
      () => Promise.reject(Object.assign(new Error("Unable to connect"), { code: "ConnectionRefused" })),
      () => json(503, { message: "overloaded" }),
      () => json(200, { schema: JSON.stringify(schema) }),
    ]);
    await r.load([1], never);
    expect(calls).toHaveLength(3);
    expect(r.lookup(1)?.kind).toBe("same");
  });
  test("an abort ends the wait", async () => {
    const { r } = registry(Array.from({ length: 100 }, () => () => json(503, {})));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(r.load([1], ac.signal)).rejects.toThrow("aborted");
    r.close(); // the shared request's retries end too
  });
  test("401 and a URL that is not the API stop, with a line that says what to set", async () => {
    const a = registry([() => json(401, { message: "Unauthorized" })]);
    const e1 = await a.r.load([1], never).catch((e) => e);
    expect(e1).toBeInstanceOf(Stop);
    expect(e1.message).toContain("SCHEMA_REGISTRY_USERNAME");
    const b = registry([() => new Response("<html>not here</html>", { status: 404 })]);
    const e2 = await b.r.check().catch((e) => e);
    expect(e2).toBeInstanceOf(Stop);
    expect(e2.message).toContain("SCHEMA_REGISTRY_URL");
    expect(e2.message).not.toContain("secret");
  });
  test("credentials go as HTTP basic, never in the URL", async () => {
    let auth = "";
    const http = (async (_url: string, init: RequestInit) => {
      auth = (init.headers as Record<string, string>).Authorization ?? "";
      return json(200, []);
    }) as unknown as typeof fetch;
    await new SchemaRegistry({ url: "http://127.0.0.1:1/x", username: "u", password: "secret" }, http).check();
    expect(auth).toBe(`Basic ${Buffer.from("u:secret").toString("base64")}`);
  });
});
