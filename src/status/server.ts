/**
 * Status server (Hono on Bun.serve), beside `consume` and `simulate`:
 *   GET /healthz  200 while the process lives
 *   GET /readyz   200 when every readiness check passes, else 503 with the list of what is not ready
 *   GET /metrics  Prometheus text (prom-client)
 *   GET /status   the same figures as JSON, for the dashboard
 *   GET /         the live dashboard (src/status/dashboard.html, embedded in the binary)
 *   GET /v1/...   the read API, where the process has one (consume: src/status/api.ts)
 * With STATUS_TOKEN set, all but /healthz and /readyz need `Authorization: Bearer <token>`.
 */
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import dashboardHtml from "./dashboard.html" with { type: "text" };
import { log } from "../common/log.ts";
import { registry } from "./metrics.ts";

// Imported as text (embedded in the binary); Bun's types describe *.html imports as bundles.
const dashboard = dashboardHtml as unknown as string;

export interface StatusSource {
  mode: "consume" | "simulate" | "collect";
  /** Figures sampled once a second into the history the dashboard charts (rates, latency, lag). */
  sample(): Promise<Record<string, number | null>>;
  /** Names of what is not ready; empty when ready. */
  notReady(): Promise<string[]>;
  /** Figures for /status (counts, rates, watermark, lag, latest events). */
  status(): Promise<Record<string, unknown>>;
}

export interface StatusServer {
  url: string;
  stop(): Promise<void>;
}

/** Five minutes of one-second samples. */
const HISTORY = 300;

export function statusApp(src: StatusSource, token: string, history: Record<string, number | null>[] = [], api?: Hono): Hono {
  const app = new Hono();
  const started = Date.now();
  app.get("/healthz", (c) => c.json({ ok: true, mode: src.mode }));
  app.get("/readyz", async (c) => {
    const missing = await src.notReady();
    return c.json({ ready: missing.length === 0, notReady: missing }, missing.length ? 503 : 200);
  });
  if (token) {
    // A browser cannot add a header to the page it opens: the dashboard may carry ?token= instead,
    // and passes it on to /status.
    const bearer = bearerAuth({ token });
    app.use("*", async (c, next) => (c.req.query("token") === token ? next() : bearer(c, next)));
  }
  app.get("/metrics", async (c) => c.body(await registry.metrics(), 200, { "Content-Type": registry.contentType }));
  app.get("/status", async (c) => c.json({
    mode: src.mode, now: Date.now(), uptimeSec: Math.round((Date.now() - started) / 1000), ...(await src.status()), history,
  }));
  app.get("/", (c) => c.html(dashboard));
  if (api) app.route("/", api);
  return app;
}

export function startStatus(addr: { host: string; port: number } | null, token: string, src: StatusSource, api?: Hono): StatusServer | null {
  if (!addr) return null;
  const loopback = addr.host === "127.0.0.1" || addr.host === "localhost" || addr.host === "::1" || addr.host.startsWith("127.");
  if (!loopback && !token) {
    log.warn({ addr: `${addr.host}:${addr.port}` }, "status server listens beyond loopback without STATUS_TOKEN: anyone who reaches it can read the metrics");
  }
  const history: Record<string, number | null>[] = [];
  const sampler = setInterval(async () => {
    history.push({ t: Date.now(), ...(await src.sample()) });
    if (history.length > HISTORY) history.shift();
  }, 1000);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: addr.host, port: addr.port, fetch: statusApp(src, token, history, api).fetch });
  } catch (e) {
    clearInterval(sampler);
    throw new Error(`status server cannot listen on ${addr.host}:${addr.port} (${(e as Error).message}); set STATUS_ADDR to a free port or off`);
  }
  const url = `http://${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${server.port}/`;
  log.info({ url }, "status server listening");
  return {
    url,
    stop: async () => {
      clearInterval(sampler);
      await server.stop(true);
    },
  };
}
