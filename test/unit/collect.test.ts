/**
 * The collector without I/O: the body formats and limits (intake.ts), the consumer's rules on what is posted,
 * group commit (batcher.ts), and the HTTP contract (app.ts) through Hono's app.request with `publish` injected.
 */
import { describe, expect, test } from "bun:test";
import { collectApp, type CollectDeps } from "../../src/collect/app.ts";
import { Batcher, Overloaded } from "../../src/collect/batcher.ts";
import { tracker } from "../../src/collect/collect.ts";
import { admit, COLLECT_LIMITS, parseBody, Refused } from "../../src/collect/intake.ts";
import type { EventRecord } from "../../src/codec/encode.ts";

const U = "6f1c8a36-7a1e-4c6b-9a43-0d7e3e0b7a11";
const E = "0b3c1c9e-3f5e-4d7a-8a61-3a2f0f4d9c10";
const NOW = Date.parse("2026-12-04T12:00:00Z");
const ev = (o: Record<string, unknown> = {}) => ({ user_id: U, event_type: "CLICK", ...o });
const ctx = { now: NOW, newId: () => E, userAgent: "Mozilla/5.0 test" };
const refused = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof Refused) return [e.status, e.message] as const;
    throw e;
  }
  throw new Error("not refused");
};

describe("parseBody: one event, an array, NDJSON, text/plain", () => {
  test("each format gives the same items", () => {
    const a = ev(), b = ev({ event_type: "PAGE_VIEW" });
    expect(parseBody(JSON.stringify(a), "application/json")).toEqual([a]);
    expect(parseBody(JSON.stringify([a, b]), "application/json; charset=utf-8")).toEqual([a, b]);
    expect(parseBody(`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`, "application/x-ndjson")).toEqual([a, b]);
    expect(parseBody(JSON.stringify([a, b]), "text/plain;charset=UTF-8")).toEqual([a, b]); // sendBeacon
    expect(parseBody(`${JSON.stringify(a)}\n${JSON.stringify(b)}`, "text/plain")).toEqual([a, b]);
    expect(parseBody(JSON.stringify(a), undefined)).toEqual([a]);
  });
  test("an NDJSON line that is not JSON is one bad item, not a bad request", () => {
    const items = parseBody(`${JSON.stringify(ev())}\n{oops\n${JSON.stringify(ev())}`, "application/x-ndjson");
    expect(items).toHaveLength(3);
    expect(admit(items, ctx).rejected).toEqual([{ index: 1, reason: "undecodable", message: expect.stringMatching(/^not JSON/) }]);
  });
  test("refused as a whole: empty, not JSON, another type, and the three limits", () => {
    expect(refused(() => parseBody("  ", "application/json"))[0]).toBe(400);
    expect(refused(() => parseBody("[]", "application/json"))[0]).toBe(400);
    expect(refused(() => parseBody("{oops", "application/json"))).toEqual([400, expect.stringMatching(/not JSON/)]);
    expect(refused(() => parseBody("a=1", "application/x-www-form-urlencoded"))[0]).toBe(415);
    const many = JSON.stringify(Array.from({ length: COLLECT_LIMITS.batchEvents + 1 }, () => ev()));
    expect(refused(() => parseBody(many, "application/json"))).toEqual([413, `${COLLECT_LIMITS.batchEvents + 1} events in one request; at most 500`]);
    expect(parseBody(JSON.stringify(Array.from({ length: COLLECT_LIMITS.batchEvents }, () => ev())), "application/json")).toHaveLength(500);
    const big = ev({ metadata: { note: "x".repeat(COLLECT_LIMITS.eventBytes) } });
    expect(refused(() => parseBody(JSON.stringify([ev(), big]), "application/json"))).toEqual([413, expect.stringMatching(/^event 1 is \d+ bytes; at most 32 KiB/)]);
    const huge = JSON.stringify(Array.from({ length: 40 }, () => ev({ metadata: { note: "y".repeat(15_000) } })));
    expect(refused(() => parseBody(huge, "application/json"))).toEqual([413, "the request is larger than 512 KiB"]);
  });
});

describe("admit: filled in, then the consumer's rules", () => {
  test("a missing event_id is assigned, a missing event_time is the receive time; metadata gains what the collector knows", () => {
    const { accepted, rejected } = admit([ev({ metadata: { page: "/a", n: 3, received_at: "forged" } })], { ...ctx, clientIp: "203.0.113.9" });
    expect(rejected).toEqual([]);
    expect(accepted).toEqual([{
      user_id: U, event_type: "CLICK", event_time: NOW, event_id: E,
      metadata: { page: "/a", n: "3", received_at: String(NOW), user_agent: "Mozilla/5.0 test", client_ip: "203.0.113.9" },
    }]);
    expect(admit([ev()], ctx).accepted[0]!.metadata).toEqual({ received_at: String(NOW), user_agent: "Mozilla/5.0 test" }); // no IP unless recorded
  });
  test("a client's own event_id and event_time are kept (a batch sent twice stores each event once); camelCase and upper case are read", () => {
    const [e] = admit([{ userId: U.toUpperCase(), eventType: "PAGE_VIEW", eventTime: NOW - 5000, eventId: E.toUpperCase() }], ctx).accepted;
    expect(e).toMatchObject({ user_id: U, event_id: E, event_time: NOW - 5000, event_type: "PAGE_VIEW" });
  });
  test("bad events are rejected with their index and the consumer's reason; the good ones accepted", () => {
    const { accepted, rejected } = admit([ev(), ev({ user_id: "nope" }), "a string", ev({ event_time: NOW + 2 * 86_400_000 }),
      ev({ metadata: ["x"] }), ev({ event_type: "" }), ev()], ctx);
    expect(accepted).toHaveLength(2);
    expect(rejected.map((r) => [r.index, r.reason])).toEqual([[1, "invalid_uuid"], [2, "not_an_object"], [3, "invalid_event_time"],
      [4, "wrong_type"], [5, "invalid_event_type"]]);
  });
  test("the collector's own keys count against the metadata bounds", () => {
    const full = Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`k${i}`, "v"]));
    expect(admit([ev({ metadata: full })], ctx).rejected[0]).toMatchObject({ reason: "invalid_metadata", message: "metadata has more than 64 entries" });
  });
});

describe("Batcher: group commit, one send in flight", () => {
  const size = (m: number) => m;
  test("requests that arrive while a send waits go together in the next; each learns when its own are acknowledged", async () => {
    const sends: number[][] = [];
    let release: () => void = () => {};
    const b = new Batcher<number>((items) => {
      sends.push(items);
      return new Promise((r) => (release = r));
    }, size, { maxBytes: 1000, maxPending: 10_000 });
    let firstDone = false;
    const first = b.submit([1]).then(() => (firstDone = true));
    await Bun.sleep(1);
    const rest = [b.submit([2, 3]), b.submit([4]), b.submit([5])];
    await Bun.sleep(1);
    expect(sends).toEqual([[1]]); // one in flight
    expect(b.pending).toBe(15);
    release();
    await first;
    expect(firstDone).toBe(true);
    await Bun.sleep(1);
    expect(sends).toEqual([[1], [2, 3, 4, 5]]);
    release();
    await Promise.all(rest);
    expect(b.pending).toBe(0);
    await b.drain();
  });
  test("a send carries at most maxBytes (a request is never split); a failed send rejects exactly its requests", async () => {
    const sends: number[][] = [];
    let n = 0;
    const b = new Batcher<number>(async (items) => {
      sends.push(items);
      if (n++ === 1) throw new Error("broker away");
    }, size, { maxBytes: 10, maxPending: 1000 });
    const r = await Promise.allSettled([b.submit([6]), b.submit([3, 3]), b.submit([4]), b.submit([9]), b.submit([20])]);
    expect(sends).toEqual([[6], [3, 3, 4], [9], [20]]);
    expect(r.map((x) => x.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled", "fulfilled"]);
  });
  test("past maxPending a request is refused at once", async () => {
    const b = new Batcher<number>(() => new Promise(() => {}), size, { maxBytes: 100, maxPending: 50 });
    void b.submit([40]);
    await expect(b.submit([20])).rejects.toBeInstanceOf(Overloaded);
  });
});

describe("the HTTP contract (app.request, Kafka injected)", () => {
  const settings = { allowedOrigins: ["https://shop.example"], writeKey: "", recordIp: false, trustProxy: false, ackTimeout: 200 };
  const app = (over: Partial<CollectDeps> = {}, s: Partial<typeof settings> = {}) => {
    const published: EventRecord[][] = [];
    const a = collectApp({
      settings: { ...settings, ...s }, publish: async (e) => void published.push(e), notReady: () => [], failed: () => {},
      tracker, now: () => NOW, newId: () => E, ...over,
    });
    return { published, req: (path: string, init?: RequestInit) => a.request(path, init) };
  };
  const post = (body: string, headers: Record<string, string> = {}) => ({ method: "POST", body, headers: { "Content-Type": "application/json", ...headers } });

  test("202 with the rejected ones listed, only after publish resolved; 400 when none is good", async () => {
    const { published, req } = app();
    const r = await req("/v1/events", post(JSON.stringify([ev(), ev({ user_id: "x" })])));
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ accepted: 1, rejected: [{ index: 1, reason: "invalid_uuid", message: 'user_id is not a UUID: "x"' }] });
    expect(published).toHaveLength(1);
    const bad = await req("/v1/events", post(JSON.stringify([ev({ user_id: "x" })])));
    expect(bad.status).toBe(400);
    expect(published).toHaveLength(1);
  });
  test("a write key: 401 without it or with a wrong one; the header or ?key= (beacons) carry it", async () => {
    const { req } = app({}, { writeKey: "s3cret" });
    expect((await req("/v1/events", post(JSON.stringify(ev())))).status).toBe(401);
    expect((await req("/v1/events", post(JSON.stringify(ev()), { "X-Write-Key": "wrong!" }))).status).toBe(401);
    expect((await req("/v1/events", post(JSON.stringify(ev()), { "X-Write-Key": "s3cret" }))).status).toBe(202);
    expect((await req("/v1/events?key=s3cret", post(JSON.stringify(ev()), { "Content-Type": "text/plain" }))).status).toBe(202);
  });
  test("CORS: the preflight of an allowed origin is answered; another origin gets no CORS headers and a 403; the same origin passes", async () => {
    const { req } = app();
    const pre = await req("/v1/events", { method: "OPTIONS", headers: { Origin: "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const other = await req("/v1/events", post(JSON.stringify(ev()), { Origin: "https://evil.example" }));
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect((await req("http://collector.example/v1/events", post(JSON.stringify(ev()), { Origin: "http://collector.example", Host: "collector.example" }))).status).toBe(202);
    const ok = await req("/v1/events", post(JSON.stringify(ev()), { Origin: "https://shop.example" }));
    expect([ok.status, ok.headers.get("access-control-allow-origin")]).toEqual([202, "https://shop.example"]);
  });
  test("Kafka not acknowledging within COLLECT_ACK_TIMEOUT, or refusing: 503 with Retry-After, nothing counted as accepted", async () => {
    const slow = app({ publish: () => new Promise(() => {}) });
    const r = await slow.req("/v1/events", post(JSON.stringify(ev())));
    expect([r.status, r.headers.get("retry-after")]).toEqual([503, "2"]);
    expect(await r.json()).toMatchObject({ accepted: 0, error: expect.stringMatching(/did not acknowledge within 200 ms/) });
    let fatal: unknown;
    const denied = app({ publish: () => Promise.reject(new Error("Not authorized")), failed: (e) => (fatal = e) });
    const d = await denied.req("/v1/events", post(JSON.stringify(ev())));
    expect([d.status, d.headers.get("retry-after")]).toEqual([503, "2"]);
    expect((fatal as Error).message).toBe("Not authorized");
  });
  test("a body over 512 KiB is refused before it is read (413); another Content-Type is 415", async () => {
    const { req } = app();
    const big = "x".repeat(COLLECT_LIMITS.requestBytes + 1);
    const r = await req("/v1/events", { method: "POST", body: big, headers: { "Content-Type": "text/plain", "Content-Length": String(big.length) } });
    expect(r.status).toBe(413);
    expect((await req("/v1/events", post("a=b", { "Content-Type": "multipart/form-data" }))).status).toBe(415);
  });
  test("the tracker is served minified, under 3 KiB", async () => {
    const r = await app().req("/v1/tracker.js");
    expect(r.headers.get("content-type")).toContain("javascript");
    const body = await r.text();
    expect(body.length).toBeLessThan(3 * 1024);
    expect(body).toContain("sendBeacon");
    expect(body).not.toContain("/*");
  });
});
