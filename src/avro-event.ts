/**
 * Decode + validate, the short way: a well-formed Avro UserEvent read straight from its bytes.
 *
 * The general path (decode.ts, then transform.ts) makes an object of the record and a JS string of each of
 * its 17 strings, and the sink then writes those strings back out as the same UTF-8 bytes. In a CPU profile
 * of `events consume` that round trip (avsc's string decoding, the garbage it makes, re-encoding) was the
 * largest cost after the Kafka client. Here the record is checked in place and its metadata stays bytes:
 * the sink copies them into the row (row.ts), and `metadata` becomes an object only if someone asks
 * (the dashboard's recent events).
 *
 * Only the plain case is taken: canonical UUIDs, a printable ASCII event type, ASCII metadata within the
 * bounds, no duplicate keys, nothing after the record. Anything else returns null and goes the general
 * way, which accepts what it accepts and names what is wrong: this path never decides that a record is
 * bad, so both paths agree on every record (test/unit/avro-event.test.ts compares them).
 */
import type { StoredEvent } from "./event.ts";
import { type Format, metadataType, readLong } from "./decode.ts";
import { bucketDate, LIMITS } from "./transform.ts";

/** A StoredEvent whose metadata is still the Avro map's bytes: `buf[metaStart, metaEnd)`, `metaCount` entries. */
export class AvroEvent implements StoredEvent {
  private decoded?: Record<string, string>;

  constructor(
    readonly userId: string,
    readonly eventType: string,
    readonly eventTime: number,
    readonly eventId: string,
    readonly bucketDate: string,
    readonly buf: Buffer,
    readonly metaStart: number,
    readonly metaEnd: number,
    readonly metaCount: number,
  ) {}

  /** The metadata as an object, decoded (by avsc, as the general path does) on first use. */
  get metadata(): Record<string, string> {
    this.decoded ??= metadataType.decode(this.buf, this.metaStart).value as Record<string, string>;
    return this.decoded;
  }
}

/**
 * The event in `value` if it is plain Avro of the schema (after the framing `format` implies), else null
 * (then decode.ts + transform.ts decide). JSON is always left to the general path.
 */
export function readAvroEvent(value: Buffer | null, format: Format, now: number): AvroEvent | null {
  if (!value || value.length === 0) return null;
  if (format === "json") return null;
  // Confluent framing: magic byte 0 and a schema id (in "auto", a leading 0 means that framing too).
  const start = format === "confluent" || (format === "auto" && value[0] === 0) ? 5 : 0;
  if (start === 5 && value[0] !== 0) return null;
  return readAt(value, start, now);
}

const UUID_LENGTH = 36;
const seenKeys: number[] = []; // readAt's, reused: one array per record was garbage on the hot path
const ZIGZAG_36 = 72; // a string of 36 bytes: its length, zigzag-encoded, is this one byte

function readAt(b: Buffer, start: number, now: number): AvroEvent | null {
  const end = b.length;
  const r = { at: start };
  // user_id
  if (r.at >= end || b[r.at] !== ZIGZAG_36) return null;
  const userAt = r.at + 1;
  if (userAt + UUID_LENGTH > end || !isUuid(b, userAt)) return null;
  r.at = userAt + UUID_LENGTH;
  // event_type: printable ASCII (no control characters), 1 to 64 of them
  const typeLength = readLong(b, r);
  if (!(typeLength >= 1 && typeLength <= LIMITS.eventTypeMaxLength) || r.at + typeLength > end) return null;
  const typeAt = r.at;
  for (let i = typeAt; i < typeAt + typeLength; i++) if (b[i]! < 0x20 || b[i]! >= 0x7f) return null;
  r.at += typeLength;
  // event_time
  const eventTime = readLong(b, r);
  if (!(eventTime >= LIMITS.minEventTime && eventTime <= now + LIMITS.maxFutureMs)) return null;
  // event_id
  if (r.at >= end || b[r.at] !== ZIGZAG_36) return null;
  const idAt = r.at + 1;
  if (idAt + UUID_LENGTH > end || !isUuid(b, idAt)) return null;
  r.at = idAt + UUID_LENGTH;
  // metadata: blocks of entries, ASCII keys and values within the bounds, no key twice
  const metaStart = r.at;
  let entries = 0;
  let chars = 0;
  const keys = seenKeys; // start, end of each key, to look for duplicates
  keys.length = 0;
  for (;;) {
    let count = readLong(b, r);
    if (Number.isNaN(count)) return null;
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      if (Number.isNaN(readLong(b, r))) return null;
    }
    entries += count;
    if (entries > LIMITS.metadataMaxEntries) return null;
    for (let i = 0; i < count; i++) {
      const kn = readLong(b, r);
      if (!(kn >= 1 && kn <= LIMITS.metadataKeyMaxLength) || r.at + kn > end || !ascii(b, r.at, r.at + kn)) return null;
      const k0 = r.at;
      r.at += kn;
      if (kn === 9 && latin1(b, k0, k0 + 9) === "__proto__") return null; // as an object key it is special
      for (let j = 0; j < keys.length; j += 2) {
        if (keys[j + 1]! - keys[j]! === kn && b.compare(b, k0, k0 + kn, keys[j]!, keys[j + 1]!) === 0) return null;
      }
      keys.push(k0, k0 + kn);
      const vn = readLong(b, r);
      if (!(vn >= 0 && vn <= LIMITS.metadataValueMaxLength) || r.at + vn > end || !ascii(b, r.at, r.at + vn)) return null;
      r.at += vn;
      chars += kn + vn;
      if (chars > LIMITS.metadataMaxBytes) return null;
    }
  }
  if (r.at !== end) return null; // truncated, or bytes after the record
  return new AvroEvent(uuidString(b, userAt), latin1(b, typeAt, typeAt + typeLength), eventTime, uuidString(b, idAt),
    bucketDate(eventTime), b, metaStart, r.at, entries);
}

/** Bytes as a string, one character per byte (for ASCII checked here). Node and Bun have it; their types do not. */
const latin1 = (b: Buffer, from: number, to: number): string => (b as unknown as { latin1Slice(f: number, t: number): string }).latin1Slice(from, to);

function ascii(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/** 8-4-4-4-12 hex digits with dashes, in either case. */
function isUuid(b: Buffer, at: number): boolean {
  for (let i = 0; i < UUID_LENGTH; i++) {
    const c = b[at + i]!;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}

/** The canonical (lower-case) string of a UUID checked by isUuid. */
function uuidString(b: Buffer, at: number): string {
  const s = latin1(b, at, at + UUID_LENGTH);
  for (let i = at; i < at + UUID_LENGTH; i++) if (b[i]! >= 0x41 && b[i]! <= 0x46) return s.toLowerCase();
  return s;
}
