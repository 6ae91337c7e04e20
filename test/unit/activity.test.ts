import { expect, test } from "bun:test";
import { seededRandom, seededUuid, Website } from "../../src/simulate/activity.ts";

test("the same seed gives the same activity", () => {
  const a = new Website(7, 100);
  const b = new Website(7, 100);
  for (let i = 0; i < 500; i++) expect(a.next()).toEqual(b.next());
});

test("seeded UUIDs are valid version-4 UUIDs", () => {
  const r = seededRandom(1);
  for (let i = 0; i < 100; i++) expect(seededUuid(r)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("a believable funnel: sessions start with LOGIN or SIGNUP, many views, few purchases", () => {
  const site = new Website(3, 2000);
  const counts: Record<string, number> = {};
  const firstOfSession = new Map<string, string>();
  for (let i = 0; i < 50_000; i++) {
    const a = site.next();
    counts[a.event_type] = (counts[a.event_type] ?? 0) + 1;
    if (!firstOfSession.has(a.metadata.session_id!)) firstOfSession.set(a.metadata.session_id!, a.event_type);
    for (const k of ["session_id", "page", "referrer", "device", "user_agent", "source"]) expect(a.metadata).toHaveProperty(k);
  }
  expect(new Set(firstOfSession.values())).toEqual(new Set(["LOGIN", "SIGNUP"]));
  const views = (counts.PAGE_VIEW ?? 0) + (counts.VIEW_ITEM ?? 0);
  expect(views).toBeGreaterThan(counts.PURCHASE! * 5);
  expect(counts.ADD_TO_CART!).toBeGreaterThan(counts.PURCHASE!);
  expect(counts.PURCHASE!).toBeGreaterThan(0);
  expect(counts.LOGIN!).toBeGreaterThan(counts.SIGNUP!);
});
