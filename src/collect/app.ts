/**
 * The collector's HTTP API (Hono), with Kafka injected: `publish` resolves once Kafka acknowledged every event
 * it was given. collect.ts hands it the real producer; the unit tests hand it a function.
 *
 *   POST    /v1/events     one event, a JSON array, NDJSON, or text/plain (sendBeacon)
 *             202 {accepted, rejected: [{index, reason, message}]}   every accepted event is in Kafka
 *             400 nothing accepted (all rejected, or the body unreadable)     401 write key missing or wrong
 *             403 an Origin not in COLLECT_ALLOWED_ORIGINS    413 a limit    415 another Content-Type
 *             503 + Retry-After: Kafka did not acknowledge within COLLECT_ACK_TIMEOUT (nothing may be taken as stored)
 *   OPTIONS /v1/events     CORS preflight
 *   GET     /v1/tracker.js the browser tracker (src/collect/tracker.js)
 *   GET     /demo/shop     the demo's shop page, with COLLECT_DEMO_SHOP
 *   GET     /healthz, /readyz  as the status server's, for a load balancer in front of the collector
 */
import { timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { getConnInfo } from "hono/bun";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { EventRecord } from "../codec/encode.ts";
import { within } from "../common/retry.ts";
import { metrics } from "../status/metrics.ts";
import { Overloaded } from "./batcher.ts";
import { admit, COLLECT_LIMITS, parseBody, Refused } from "./intake.ts";

export interface CollectSettings {
  allowedOrigins: string[];
  writeKey: string;
  recordIp: boolean;
  trustProxy: boolean;
  ackTimeout: number;
}

export interface CollectDeps {
  settings: CollectSettings;
  publish(events: EventRecord[]): Promise<void>;
  /** What is not ready (empty: ready). */
  notReady(): string[];
  /** Every publish error is shown to the process, which stops if the failure policy says so; the request gets a 503. */
  failed(e: Error): void;
  tracker: string;
  shop?: string;
  now?: () => number;
  newId?: () => string;
}

/** Seconds a client is told to wait before it sends again when Kafka is away or the collector is full. */
export const RETRY_AFTER_S = 2;

export function collectApp(deps: CollectDeps): Hono {
  const { settings } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const anyOrigin = settings.allowedOrigins.includes("*");
  const key = Buffer.from(settings.writeKey);
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ ok: true, mode: "collect" }));
  app.get("/readyz", (c) => {
    const missing = deps.notReady();
    return c.json({ ready: missing.length === 0, notReady: missing }, missing.length ? 503 : 200);
  });
  app.get("/v1/tracker.js", (c) => c.body(deps.tracker, 200, {
    "Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "public, max-age=300",
  }));
  if (deps.shop) app.get("/demo/shop", (c) => c.html(deps.shop!));

  app.use("/v1/events", cors({
    origin: (origin) => (anyOrigin ? "*" : settings.allowedOrigins.includes(origin) ? origin : null),
    allowMethods: ["POST"], allowHeaders: ["Content-Type", "X-Write-Key"], maxAge: 86_400,
  }));
  const answer = (c: Context, status: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
    metrics.collectRequests.inc({ status: String(status) });
    return c.json(body, status as 202, headers);
  };
  app.post("/v1/events", bodyLimit({
    maxSize: COLLECT_LIMITS.requestBytes,
    onError: (c) => answer(c, 413, { error: `the request is larger than ${COLLECT_LIMITS.requestBytes / 1024} KiB` }),
  }), async (c) => {
    // Same origin (the demo's shop, a tracker served by this collector) is always allowed; others by the list.
    const origin = c.req.header("origin");
    if (origin && !anyOrigin && !settings.allowedOrigins.includes(origin) && !sameOrigin(origin, c.req.header("host"))) {
      return answer(c, 403, { error: `origin ${origin} is not in COLLECT_ALLOWED_ORIGINS` });
    }
    if (key.length) {
      const given = Buffer.from(c.req.header("x-write-key") ?? c.req.query("key") ?? "");
      if (given.length !== key.length || !timingSafeEqual(given, key)) return answer(c, 401, { error: "a write key is required (header X-Write-Key, or ?key=), and this one is wrong or missing" });
    }
    let items;
    try {
      items = parseBody(await c.req.text(), c.req.header("content-type"));
    } catch (e) {
      if (e instanceof Refused) return answer(c, e.status, { error: e.message });
      throw e;
    }
    const { accepted, rejected } = admit(items, {
      now: now(), newId, userAgent: c.req.header("user-agent"), clientIp: settings.recordIp ? clientIp(c, settings.trustProxy) : undefined,
    });
    for (const r of rejected) metrics.collectRejected.inc({ reason: r.reason });
    if (accepted.length === 0) return answer(c, 400, { accepted: 0, rejected });
    const t0 = performance.now();
    const outcome = await within(deps.publish(accepted), settings.ackTimeout);
    if (outcome !== "done") {
      if (outcome !== "timeout") deps.failed(outcome);
      const why = outcome === "timeout" ? `Kafka did not acknowledge within ${settings.ackTimeout} ms`
        : outcome instanceof Overloaded ? `the collector is full: ${outcome.message}` : `Kafka refused the events: ${outcome.message}`;
      return answer(c, 503, { error: `${why}; nothing of this request may be taken as stored: send it again`, accepted: 0 }, { "Retry-After": String(RETRY_AFTER_S) });
    }
    metrics.collectProduceSeconds.observe((performance.now() - t0) / 1000);
    metrics.collectAccepted.inc(accepted.length);
    return answer(c, 202, { accepted: accepted.length, rejected });
  });
  return app;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The client's address: the first of X-Forwarded-For behind a trusted load balancer, else the socket's peer. */
function clientIp(c: Context, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const first = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (first) return first;
  }
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // no socket (the unit tests' app.request)
  }
}
