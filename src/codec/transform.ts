/**
 * Validate and transform: an untyped decoded record → a StoredEvent with its bucket_date, or a
 * BadRecord naming what is wrong. The bounds are documented in the README ("Validation").
 */
import { BadRecord, type StoredEvent } from "./event.ts";
import type { RawEvent } from "./decode.ts";

export const LIMITS = {
  eventTypeMaxLength: 64,
  metadataMaxEntries: 64,
  metadataKeyMaxLength: 128,
  metadataValueMaxLength: 2048,
  metadataMaxBytes: 16 * 1024,
  /** 2000-01-01T00:00:00Z: nothing this website logs is older. */
  minEventTime: 946_684_800_000,
  /** Clocks drift, but an event from more than a day in the future is a bug upstream. */
  maxFutureMs: 24 * 3_600_000,
} as const;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Printable, no control characters: event types end up in dashboards and queries.
const EVENT_TYPE = /^[^\p{Cc}]+$/u;
const DAY_MS = 86_400_000;
/** Event types are few: each is checked against EVENT_TYPE once. */
const validTypes = new Set<string>();

export function toEvent(raw: RawEvent, now: number): StoredEvent {
  const userId = uuid(raw.user_id, "user_id");
  const eventId = uuid(raw.event_id, "event_id");
  const eventType = required(raw.event_type, "event_type");
  if (typeof eventType !== "string") throw new BadRecord("wrong_type", `event_type is ${typeName(eventType)}, not a string`);
  if (!validTypes.has(eventType)) {
    if (eventType.length === 0 || eventType.length > LIMITS.eventTypeMaxLength || !EVENT_TYPE.test(eventType)) {
      throw new BadRecord("invalid_event_type", `event_type must be 1-${LIMITS.eventTypeMaxLength} printable characters`);
    }
    if (validTypes.size >= 1000) validTypes.clear();
    validTypes.add(eventType);
  }
  const eventTime = time(raw.event_time, now);
  return { userId, eventType, eventTime, eventId, metadata: metadata(raw.metadata), bucketDate: bucketDate(eventTime) };
}

/** The UTC calendar date of an epoch-millis instant, as Cassandra's DATE literal. */
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

function required(v: unknown, field: string): unknown {
  if (v === undefined || v === null) throw new BadRecord("missing_field", `${field} is missing`);
  return v;
}

function typeName(v: unknown): string {
  return Array.isArray(v) ? "an array" : v === null ? "null" : `a ${typeof v}`;
}

function uuid(v: unknown, field: string): string {
  required(v, field);
  if (typeof v !== "string") throw new BadRecord("wrong_type", `${field} is ${typeName(v)}, not a UUID string`);
  if (!UUID.test(v)) throw new BadRecord("invalid_uuid", `${field} is not a UUID: ${JSON.stringify(v.slice(0, 64))}`);
  return v.toLowerCase();
}

function time(v: unknown, now: number): number {
  required(v, "event_time");
  if (typeof v !== "number") throw new BadRecord("wrong_type", `event_time is ${typeName(v)}, not epoch milliseconds`);
  if (!Number.isSafeInteger(v)) throw new BadRecord("invalid_event_time", `event_time ${v} is not an integer of epoch milliseconds`);
  if (v < LIMITS.minEventTime) throw new BadRecord("invalid_event_time", `event_time ${v} is before 2000-01-01`);
  if (v > now + LIMITS.maxFutureMs) throw new BadRecord("invalid_event_time", `event_time ${v} is more than a day in the future`);
  return v;
}

/**
 * The metadata map, checked against LIMITS. A map whose values are all strings (always so from Avro) is
 * returned as it is; JSON scalars are turned into strings in a copy.
 */
function metadata(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new BadRecord("wrong_type", `metadata is ${typeName(v)}, not a map`);
  const map = v as Record<string, unknown>;
  let copy: Record<string, string> | undefined;
  let entries = 0;
  let bytes = 0;
  for (const key in map) {
    const value = map[key];
    let s: string;
    if (typeof value === "string") s = value;
    else if (typeof value === "number" || typeof value === "boolean") {
      s = String(value); // JSON scalars
      copy ??= Object.fromEntries(Object.entries(map).map(([k, x]) => [k, typeof x === "string" ? x : String(x)]));
    } else throw new BadRecord("invalid_metadata", `metadata.${key.slice(0, 64)} is ${typeName(value)}; values must be strings or scalars`);
    if (++entries > LIMITS.metadataMaxEntries) throw new BadRecord("invalid_metadata", `metadata has more than ${LIMITS.metadataMaxEntries} entries`);
    if (key.length === 0 || key.length > LIMITS.metadataKeyMaxLength) throw new BadRecord("invalid_metadata", `metadata key length must be 1-${LIMITS.metadataKeyMaxLength}`);
    if (s.length > LIMITS.metadataValueMaxLength) throw new BadRecord("invalid_metadata", `metadata.${key.slice(0, 64)} is longer than ${LIMITS.metadataValueMaxLength} characters`);
    bytes += key.length + s.length;
    if (bytes > LIMITS.metadataMaxBytes) throw new BadRecord("invalid_metadata", `metadata is larger than ${LIMITS.metadataMaxBytes} characters`);
  }
  return copy ?? (map as Record<string, string>);
}
