/**
 * Validate and transform, the general way: an untyped decoded record (formats.ts) → a StoredEvent with its
 * bucket_date, or a BadRecord naming what is wrong. The rules themselves are in rules.ts.
 */
import { BadRecord, type StoredEvent } from "./event.ts";
import type { RawEvent } from "./formats.ts";
import { bounds, bucketDate, eventTimeFault, isEventType, LIMITS, metadataFits, uuidCase } from "./rules.ts";

export function toEvent(raw: RawEvent, now: number): StoredEvent {
  const userId = uuid(raw.user_id, "user_id");
  const eventId = uuid(raw.event_id, "event_id");
  const eventType = required(raw.event_type, "event_type");
  if (typeof eventType !== "string") throw new BadRecord("wrong_type", `event_type is ${typeName(eventType)}, not a string`);
  if (!isEventType(eventType)) throw new BadRecord("invalid_event_type", `event_type must be 1-${LIMITS.eventTypeMaxLength} printable characters`);
  const eventTime = time(raw.event_time, now);
  return { userId, eventType, eventTime, eventId, metadata: metadata(raw.metadata), bucketDate: bucketDate(eventTime) };
}

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
  const kind = uuidCase(v);
  if (kind === 0) throw new BadRecord("invalid_uuid", `${field} is not a UUID: ${JSON.stringify(v.slice(0, 64))}`);
  return kind === 1 ? v : v.toLowerCase();
}

function time(v: unknown, now: number): number {
  required(v, "event_time");
  if (typeof v !== "number") throw new BadRecord("wrong_type", `event_time is ${typeName(v)}, not epoch milliseconds`);
  switch (eventTimeFault(v, now)) {
    case "not_integer": throw new BadRecord("invalid_event_time", `event_time ${v} is not an integer of epoch milliseconds`);
    case "too_old": throw new BadRecord("invalid_event_time", `event_time ${v} is before 2000-01-01`);
    case "future": throw new BadRecord("invalid_event_time", `event_time ${v} is more than ${bounds.maxFutureMs / 1000} s ahead of the clock (EVENT_TIME_MAX_FUTURE)`);
    case null: return v;
  }
}

/**
 * The metadata map, checked against the bounds. A map whose values are all strings (always so from Avro)
 * is returned as it is; JSON scalars are turned into strings in a copy.
 */
function metadata(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new BadRecord("wrong_type", `metadata is ${typeName(v)}, not a map`);
  const map = v as Record<string, unknown>;
  let copy: Record<string, string> | undefined;
  let entries = 0;
  let chars = 0;
  for (const key in map) {
    const value = map[key];
    let s: string;
    if (typeof value === "string") s = value;
    else if (typeof value === "number" || typeof value === "boolean") {
      s = String(value); // JSON scalars
      copy ??= Object.fromEntries(Object.entries(map).map(([k, x]) => [k, typeof x === "string" ? x : String(x)]));
    } else throw new BadRecord("invalid_metadata", `metadata.${key.slice(0, 64)} is ${typeName(value)}; values must be strings or scalars`);
    if (!metadataFits.entries(++entries)) throw new BadRecord("invalid_metadata", `metadata has more than ${LIMITS.metadataMaxEntries} entries`);
    if (!metadataFits.key(key.length)) throw new BadRecord("invalid_metadata", `metadata key length must be 1-${LIMITS.metadataKeyMaxLength}`);
    if (!metadataFits.value(s.length)) throw new BadRecord("invalid_metadata", `metadata.${key.slice(0, 64)} is longer than ${LIMITS.metadataValueMaxLength} characters`);
    chars += key.length + s.length;
    if (!metadataFits.total(chars)) throw new BadRecord("invalid_metadata", `metadata is larger than ${LIMITS.metadataMaxBytes} characters`);
  }
  return copy ?? (map as Record<string, string>);
}
