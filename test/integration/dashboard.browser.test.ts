/**
 * A person's view: headless Chromium (Debian's package, driven by playwright-core) opens the dashboard of a
 * running `bun run demo`, sees the charts move with non-zero throughput, and saves a screenshot under .out/.
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
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  await requireStack();
  demo = Bun.spawn(["bun", "scripts/demo.ts", "--rate", "300", "--for", "90s"], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
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
  const out = join(ROOT, ".out");
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: join(out, "dashboard.png"), fullPage: true });
  expect(errors).toEqual([]);
}, 120_000);
