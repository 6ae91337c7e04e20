/**
 * The validation rules, each written once. Both decode paths call these: the general one (validate.ts),
 * which names what is wrong, and the plain-Avro one (avro-fast.ts), which only asks whether a record
 * passes and leaves any that does not to the general path. The bounds are documented in the README
 * ("Validation").
 */
export const LIMITS = {
  eventTypeMaxLength: 64,
  metadataMaxEntries: 64,
  metadataKeyMaxLength: 128,
  metadataValueMaxLength: 2048,
  metadataMaxBytes: 16 * 1024,
  /** 2000-01-01T00:00:00Z: nothing this website logs is older. */
  minEventTime: 946_684_800_000,
  /** Clocks drift, but an event from more than a day in the future is a bug upstream (EVENT_TIME_MAX_FUTURE). */
  maxFutureMs: 24 * 3_600_000,
} as const;

/** The bounds a deployment may set (EVENT_TIME_MAX_FUTURE); consume sets them once at start. */
export const bounds = { maxFutureMs: LIMITS.maxFutureMs as number };

/** Per character code below 128: 1 for 0-9 and a-f, 3 for A-F, 0 otherwise (a table: random hex digits mispredict branches). */
const HEX = new Uint8Array(128);
for (const c of "0123456789abcdef") HEX[c.charCodeAt(0)] = 1;
for (const c of "ABCDEF") HEX[c.charCodeAt(0)] = 3;

/**
 * A UUID: 8-4-4-4-12 hex digits with dashes, either case. 0 if not; 1 if lower case (canonical); 3 if some
 * digit is upper case (the caller stores it lower-cased).
 */
export function uuidCase(s: string): 0 | 1 | 3 {
  if (s.length !== 36) return 0;
  if (s.charCodeAt(8) !== 0x2d || s.charCodeAt(13) !== 0x2d || s.charCodeAt(18) !== 0x2d || s.charCodeAt(23) !== 0x2d) return 0;
  let all = 3;
  let any = 0;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const c = s.charCodeAt(i);
    const t = c < 128 ? HEX[c]! : 0;
    all &= t;
    any |= t;
  }
  return all === 0 ? 0 : (any as 1 | 3);
}

// Printable, no control characters: event types end up in dashboards and queries.
const EVENT_TYPE = /^[^\p{Cc}]+$/u;
/** Event types are few: each is checked against EVENT_TYPE once. */
const validTypes = new Set<string>();

/** 1 to 64 characters, none of them a control character. */
export function isEventType(s: string): boolean {
  if (validTypes.has(s)) return true;
  if (s.length === 0 || s.length > LIMITS.eventTypeMaxLength || !EVENT_TYPE.test(s)) return false;
  if (validTypes.size >= 1000) validTypes.clear();
  validTypes.add(s);
  return true;
}

/** What is wrong with an event_time (epoch milliseconds) at `now`, or null. */
export function eventTimeFault(v: number, now: number): "not_integer" | "too_old" | "future" | null {
  if (!Number.isSafeInteger(v)) return "not_integer";
  if (v < LIMITS.minEventTime) return "too_old";
  if (v > now + bounds.maxFutureMs) return "future";
  return null;
}

/** The metadata map's bounds, in characters (the plain-Avro path takes ASCII only, where bytes are characters). */
export const metadataFits = {
  entries: (n: number) => n <= LIMITS.metadataMaxEntries,
  key: (length: number) => length >= 1 && length <= LIMITS.metadataKeyMaxLength,
  value: (length: number) => length <= LIMITS.metadataValueMaxLength,
  total: (chars: number) => chars <= LIMITS.metadataMaxBytes,
};

const DAY_MS = 86_400_000;

/** bucket_date: the UTC calendar date of an epoch-millis instant, as Cassandra's DATE literal. */
export function bucketDate(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  // Events of a stream are mostly of one day: remember the last one instead of formatting per record.
  if (day !== lastDay) {
    lastDay = day;
    lastDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
  }
  return lastDate;
}
let lastDay = Number.NaN;
let lastDate = "";
