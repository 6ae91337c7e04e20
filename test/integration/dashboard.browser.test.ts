/**
 * A person's view: headless Chromium (Debian's package, driven by playwright-core) opens the dashboard of a
 * running `bun run demo`, sees the charts move with non-zero throughput and the behaviour panels fill (events
 * per minute by type from the windows, the funnel, one user's events looked up), a visitor of the demo's shop finds
 * their own clicks there, and it saves a screenshot under .out/.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Browser, chromium } from "playwright-core";
import { until } from "../helpers/events.ts";
import { requireStack, ROOT, HOOK_TIMEOUT } from "../helpers/stack.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let demo: Subprocess;
let demoStartedAt = 0;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  await requireStack();
  demoStartedAt = Date.now();
  // A 5 s out-of-orderness instead of 2 minutes: the first one-minute window fires within about a minute.
  demo = Bun.spawn(["bun", "scripts/demo.ts", "--rate", "300", "--for", "180s"], {
    cwd: ROOT, stdout: "pipe", stderr: "inherit", env: { ...process.env, WATERMARK_OUT_OF_ORDERNESS: "5s" },
  });
  await until("the demo's dashboard to answer", async () => (await fetch("http://127.0.0.1:9464/readyz")).status === 200, 120_000, 500);
}, HOOK_TIMEOUT);

afterAll(async () => {
  await browser?.close();
  demo?.kill("SIGINT");
  await demo?.exited;
}, HOOK_TIMEOUT);

test("the dashboard of a running demo shows moving charts with non-zero throughput", async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("http://127.0.0.1:9464/");
  await page.waitForSelector("#tp polyline");
  const points = () => page.$eval("#tp polyline", (el) => el.getAttribute("points") ?? "");
  const tile = (label: string) => page.evaluate((l) => {
    const t = [...document.querySelectorAll(".tile")].find((x) => x.querySelector(".k")?.textContent === l);
    return Number((t?.querySelector(".v")?.textContent ?? "0").replaceAll(",", ""));
  }, label);
  await until("throughput on the dashboard", async () => (await tile("written /s")) > 0, 30_000, 500);
  const before = await points();
  const writtenBefore = await tile("written");
  await Bun.sleep(3000);
  expect(await points()).not.toBe(before); // the chart moved
  expect(await tile("written")).toBeGreaterThan(writtenBefore);
  expect(await tile("written /s")).toBeGreaterThan(0);
  expect(await page.textContent("#ready")).toBe("ready");
  expect(await page.$$eval("#tail tr", (rows) => rows.length)).toBeGreaterThan(1);

  // Behaviour: the funnel has sessions; a user clicked in the tail is looked up through the read API.
  await until("the funnel to count sessions", async () => Number(((await page.textContent("#funnel tr:nth-child(2) td:nth-child(2)")) ?? "0").replaceAll(",", "")) > 0, 30_000, 500);
  await page.click("#tail td.user");
  await until("the user's events to be listed", async () => (await page.$$eval("#user-events tr", (rows) => rows.length)) > 1, 15_000, 250);
  expect(await page.textContent("#user-note")).toMatch(/^\d+\+? events on \d{4}-\d{2}-\d{2}, newest first$/);
  // Events per minute by type: once the watermark passes the first minute's end, the demo's window results are
  // charted, one line per type (earlier tests may have left a few windows of two types in this keyspace: the
  // demo's nine types are what the chart must come to show).
  const from = new Date(demoStartedAt - (demoStartedAt % 60_000)).toISOString();
  const demoWindowTypes = async () => {
    const body = (await (await fetch(`http://127.0.0.1:9464/v1/counts?from=${from}&to=${new Date().toISOString()}`)).json()) as { windows: { type: string }[] };
    return new Set(body.windows.map((w) => w.type));
  };
  await until("the demo's first window to fire", async () => (await demoWindowTypes()).size > 3, 150_000, 1000);
  const types = () => page.$$eval("#pm-legend span", (ls) => ls.map((l) => l.textContent ?? ""));
  await until("the demo's windows on the per-minute chart (it refreshes every 5 s)", async () => {
    const shown = await types();
    return (await page.$$eval("#pm polyline", (ls) => ls.length)) > 3 && [...(await demoWindowTypes())].every((t) => shown.includes(t));
  }, 30_000, 1000);
  for (const t of await demoWindowTypes()) expect(await types()).toContain(t);
  expect(await page.textContent("#pm-note")).toMatch(/windows of 60 s/);
  // A person in the demo's shop (served by its `events collect`): their own clicks, looked up on the dashboard.
  const shop = await browser.newPage();
  shop.on("pageerror", (e) => errors.push(e.message));
  await shop.goto("http://127.0.0.1:8080/demo/shop");
  await shop.waitForFunction(() => (window as unknown as { events?: unknown }).events !== undefined);
  const me = await shop.evaluate(() => (window as unknown as { events: { userId: string } }).events.userId);
  await shop.click("#login");
  await shop.click(".view");
  await shop.waitForFunction(() => (window as unknown as { events?: unknown }).events !== undefined);
  await shop.click(".add");
  await shop.click("#buy");
  await shop.waitForURL(/done=1/);
  await shop.close(); // the pagehide beacon carries what is still queued
  await page.fill("#user-id", me);
  const mine = ["LOGIN", "VIEW_ITEM", "ADD_TO_CART", "PURCHASE", "FORM_SUBMIT"];
  await until("the shop visitor's own events on the dashboard", async () => {
    await page.click("#user-form button");
    await Bun.sleep(500);
    const types = await page.$$eval("#user-events tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent ?? ""));
    return mine.every((t) => types.includes(t));
  }, 60_000, 1000);
  const out = join(ROOT, ".out");
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: join(out, "dashboard.png"), fullPage: true });
  expect(errors).toEqual([]);
}, 260_000);
