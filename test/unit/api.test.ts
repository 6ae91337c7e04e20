// The read API's parameter checks: every bad parameter is a BadParameter (a 400) with its reason.
import { expect, test } from "bun:test";
import { BadParameter, countsQuery, datesOf, eventsQuery } from "../../src/status/api.ts";

const USER = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const bad = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BadParameter);
    return (e as Error).message;
  }
  throw new Error("no error");
};

test("a user's events: user id, date, type, limit and page token", () => {
  expect(eventsQuery(USER.toUpperCase(), { date: "2026-12-04" })).toEqual({ userId: USER, date: "2026-12-04", type: undefined, limit: 100, page: undefined });
  expect(eventsQuery(USER, { date: "2026-12-04", type: "CLICK", limit: "1000", page: "AQID" }).page).toEqual(Buffer.from([1, 2, 3]));
  expect(bad(() => eventsQuery("nope", { date: "2026-12-04" }))).toMatch(/user_id is not a UUID/);
  for (const date of [undefined, "2026-13-01", "2026-02-30", "20261204", "2026-12-4"]) expect(bad(() => eventsQuery(USER, { date }))).toMatch(/date is required/);
  for (const limit of ["0", "1001", "1.5", "x", ""]) expect(bad(() => eventsQuery(USER, { date: "2026-12-04", limit }))).toMatch(/limit must be an integer from 1 to 1000/);
  expect(bad(() => eventsQuery(USER, { date: "2026-12-04", page: "not base64!" }))).toMatch(/page is not a token/);
  expect(bad(() => eventsQuery(USER, { date: "2026-12-04", type: "x".repeat(65) }))).toMatch(/type must be/);
});

test("counts: an ISO range, to after from, at most 48 hours", () => {
  expect(countsQuery({ from: "2026-12-04T10:00:00Z", to: "2026-12-04T11:00:00Z" })).toEqual({ from: Date.parse("2026-12-04T10:00:00Z"), to: Date.parse("2026-12-04T11:00:00Z"), type: undefined });
  expect(bad(() => countsQuery({ to: "2026-12-04T11:00:00Z" }))).toMatch(/from is required/);
  expect(bad(() => countsQuery({ from: "yesterday", to: "2026-12-04T11:00:00Z" }))).toMatch(/from is not an ISO 8601 instant/);
  expect(bad(() => countsQuery({ from: "2026-12-04T11:00:00Z", to: "2026-12-04T11:00:00Z" }))).toMatch(/to must be after from/);
  expect(bad(() => countsQuery({ from: "2026-12-01T00:00:00Z", to: "2026-12-03T00:00:01Z" }))).toMatch(/at most 48 hours/);
  expect(datesOf(Date.parse("2026-12-03T23:59:00Z"), Date.parse("2026-12-04T00:01:00Z"))).toEqual(["2026-12-03", "2026-12-04"]);
  expect(datesOf(Date.parse("2026-12-04T10:00:00Z"), Date.parse("2026-12-04T11:00:00Z"))).toEqual(["2026-12-04"]);
});
