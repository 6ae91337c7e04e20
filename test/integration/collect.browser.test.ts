/**
 * A website's visitor, end to end: headless Chromium (Debian's, driven by playwright-core) opens pages of a site
 * on another origin (127.0.0.2) with the collector's tracker on them, clicks a button, submits a form that
 * navigates, then follows a link away at once; the first batch is refused with a 503 and must be retried. `dist/events collect` takes the events into Kafka and
 * `dist/events consume` stores them; the rows in Cassandra must have one user id and one session id, the right
 * types, pages and order, and the events only the pagehide beacon carried must be among them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { isolatedPipeline, readRows, type Running, start, until } from "../helpers/events.ts";
import { HOOK_TIMEOUT, requireStack } from "../helpers/stack.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const COLLECT_PORT = 18_500 + Math.floor(Math.random() * 500);
const COLLECTOR = `http://127.0.0.1:${COLLECT_PORT}`;
/** What the site's pages talk to: a load balancer in front of the collector (below). */
let balancer: ReturnType<typeof Bun.serve>;
const FRONT = () => `http://127.0.0.3:${balancer.port}`;
/** The POSTs the balancer passed on: how the browser sent them (Sec-Fetch-Mode) and their bodies. */
const posts: { type: string; body: string }[] = [];
let p: Awaited<ReturnType<typeof isolatedPipeline>>;
let collector: Running;
let consumer: Running;
let site: ReturnType<typeof Bun.serve>;
let browser: Browser | undefined;

const page = (title: string, body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script src="${FRONT()}/v1/tracker.js" data-write-key="web-key" async></script></head><body>${body}</body></html>`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  await requireStack();
  // The shop's own site, on another loopback address: the tracker's requests are cross-origin, as on a real site.
  site = Bun.serve({
    hostname: "127.0.0.2", port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      const html = path === "/a" ? page("Page A", `<button id="like">Like</button>
          <form id="signup" method="post" action="/b"><input name="email" value="a@example.com"><button id="send" type="submit">Send</button></form>`)
        : path === "/b" ? page("Page B", `<a id="out" href="/c">Leave</a>`)
        : "<!doctype html><title>C</title><p>no tracker here</p>";
      return new Response(html, { headers: { "Content-Type": "text/html" } });
    },
  });
  // A load balancer of its own (127.0.0.3): passes every request on with X-Forwarded-For, and notes the POSTs.
  balancer = Bun.serve({
    hostname: "127.0.0.3", port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = req.method === "POST" ? await req.text() : undefined;
      if (body !== undefined) posts.push({ type: req.headers.get("sec-fetch-mode") ?? "", body });
      // The first batch meets a collector that is away (as during a deploy): the tracker must send it again.
      if (body !== undefined && posts.length === 1) {
        return new Response('{"error":"away"}', { status: 503, headers: { "Retry-After": "1", "Access-Control-Allow-Origin": req.headers.get("origin") ?? "*" } });
      }
      const headers = new Headers(req.headers);
      headers.delete("host");
      headers.set("x-forwarded-for", "198.51.100.7");
      const r = await fetch(`${COLLECTOR}${url.pathname}${url.search}`, { method: req.method, headers, body });
      return new Response(await r.arrayBuffer(), { status: r.status, headers: r.headers });
    },
  });
  p = await isolatedPipeline("it-collect-web");
  collector = start("binary", ["collect"], {
    ...p.env, COLLECT_ADDR: `127.0.0.1:${COLLECT_PORT}`, COLLECT_ALLOWED_ORIGINS: `http://127.0.0.2:${site.port}`, COLLECT_WRITE_KEY: "web-key",
    COLLECT_RECORD_IP: "true", COLLECT_TRUST_PROXY: "true",
  });
  consumer = start("binary", ["consume"], p.env);
  await until("the collector to be ready", async () => (await fetch(`${COLLECTOR}/readyz`)).status === 200, 30_000);
}, HOOK_TIMEOUT);

afterAll(async () => {
  await browser?.close();
  for (const r of [collector, consumer]) r?.proc.kill("SIGTERM");
  const codes = await Promise.all([collector?.exited, consumer?.exited]);
  site?.stop(true);
  balancer?.stop(true);
  await p?.drop();
  expect(codes).toEqual([0, 0]);
}, HOOK_TIMEOUT);

test("clicks, a form and navigation away: every event stored in order with one user and one session; a refused batch retried; the beacon's events not lost", async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on("pageerror", (e) => errors.push(e.message));
  const origin = `http://127.0.0.2:${site.port}`;
  await tab.goto(`${origin}/a`);
  await tab.waitForFunction(() => (window as unknown as { events?: unknown }).events !== undefined);
  const userId = await tab.evaluate(() => (window as unknown as { events: { userId: string } }).events.userId);
  // The page view and the click leave in one batch by fetch (after 1 s); it is refused with a 503 (above) and
  // sent again 1 s later...
  const sent = tab.waitForResponse((r) => r.url().startsWith(`${FRONT()}/v1/events`) && r.request().method() === "POST" && r.status() === 202, { timeout: 15_000 });
  await tab.click("#like");
  await sent;
  expect(posts.slice(0, 2).map((x) => x.type)).toEqual(["cors", "cors"]);
  expect(posts[1]!.body).toBe(posts[0]!.body); // the same batch, the same event ids
  // ...the submit navigates at once, and the next page is left at once: only the pagehide beacons can carry these.
  await Promise.all([tab.waitForURL(`${origin}/b`), tab.click("#send")]);
  await tab.waitForFunction(() => (window as unknown as { events?: unknown }).events !== undefined);
  await Promise.all([tab.waitForURL(`${origin}/c`), tab.click("#out")]);

  const expected = [["PAGE_VIEW", "/a"], ["CLICK", "/a"], ["CLICK", "/a"], ["FORM_SUBMIT", "/a"], ["PAGE_VIEW", "/b"], ["CLICK", "/b"]];
  const rows = await until("the six events in Cassandra", async () => {
    const all = [...(await readRows(p.keyspace)).values()].filter((r) => r.user_id === userId);
    return all.length >= expected.length ? all : null;
  }, 60_000, 500);
  rows.sort((a, b) => a.event_time - b.event_time);
  expect(rows.map((r) => [r.event_type, r.metadata.page])).toEqual(expected);
  expect(new Set(rows.map((r) => r.metadata.session_id)).size).toBe(1);
  expect(rows[0]!.metadata.session_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(rows.map((r) => r.metadata.element ?? "")).toEqual(["", "button", "button", "", "", "a"]);
  expect(rows[3]!.metadata.form).toBe("signup");
  expect(rows[4]!.metadata.referrer).toBe(`${origin}/a`);
  for (const r of rows) {
    expect(r.metadata.device).toMatch(/^(desktop|tablet|mobile) \d+x\d+$/);
    expect(r.metadata.user_agent).toContain("Chrome");
    expect(r.metadata.client_ip).toBe("198.51.100.7"); // COLLECT_TRUST_PROXY: the balancer's X-Forwarded-For
    expect(Number(r.metadata.received_at)).toBeGreaterThanOrEqual(r.event_time - 1000);
  }
  // The last click went by beacon, and it is stored. (A beacon of text/plain is a no-cors request; the tracker's
  // fetches are cors.)
  const last = rows.at(-1)!;
  const beacons = posts.filter((x) => x.type === "no-cors");
  console.log(`collect-browser: ${posts.length} POSTs through the balancer (Sec-Fetch-Mode: ${posts.map((x) => x.type).join(", ")}); rows ${rows.map((r) => r.event_type).join(", ")}`);
  expect(beacons.some((b) => b.body.includes(last.event_id))).toBe(true);
  expect(errors).toEqual([]);
}, 120_000);
