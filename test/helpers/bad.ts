import { BadRecord } from "../../src/codec/event.ts";

/** The reason of the BadRecord fn throws; fails if it returns or throws anything else. */
export function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof BadRecord) return e.reason;
    throw e;
  }
  throw new Error("expected a BadRecord");
}
