/**
 * Decode + validate, the short way: a well-formed plain Avro UserEvent read straight from its bytes.
 *
 * The general path (formats.ts, then validate.ts) makes an object of the record and a JS string of each of
 * its 17 strings, and the sink then writes those strings back out as the same UTF-8 bytes. Here the record
 * is walked in place and its metadata stays bytes: the row encoder copies them into the row (row.ts), and
 * `metadata` becomes an object only if someone asks (the dashboard's recent events).
 *
 * It applies the rules of rules.ts (the same functions validate.ts calls) and only ever answers "passes"
 * or null: canonical framing, ASCII strings, no duplicate metadata key, nothing after the record; any
 * record it does not take goes the general way, which accepts what it accepts and names what is wrong.
 * So both paths agree on every record (test/unit/avro-fast.test.ts compares them). docs/benchmark.md has
 * the A/B that keeps it.
 *
 * Written for JavaScriptCore's JIT: positions kept ints (a length from a division is a double, and a loop
 * indexed by doubles ran 4-10x slower), one OR of all key and value bytes instead of a test per byte.
 */
import type { StoredEvent } from "./event.ts";
import { type Format, metadataType, readLong } from "./formats.ts";
import { bucketDate, eventTimeFault, isEventType, LIMITS, metadataFits, uuidCase } from "./rules.ts";

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

  /** At most the bytes of its metadata as a Cassandra map's entries: each 1–2 byte Avro length becomes 4 bytes. */
  get metadataRowBytes(): number {
    return this.metaEnd - this.metaStart + 8 * this.metaCount;
  }

  /**
   * A 53-bit hash of one metadata value, read from the bytes without decoding the rest or making a string (the
   * funnel's session_id, for every event of a funnel step); undefined if the key is absent.
   */
  metadataHash(key: Buffer): number | undefined {
    if (this.decoded) {
      const v = this.decoded[key.toString()];
      return v === undefined ? undefined : hashBytes(Buffer.from(v), 0, Buffer.byteLength(v));
    }
    const src = this.buf;
    const r = { at: this.metaStart | 0 };
    let found: number | undefined;
    while (r.at < this.metaEnd) {
      let count = readLong(src, r);
      if (count === 0) break;
      if (count < 0) {
        count = -count;
        readLong(src, r); // the block's size in bytes
      }
      let s = r.at | 0;
      for (let i = 0; i < count; i++) {
        const kn = shortLength(src, s);
        s += lengthSize(src, s);
        const match = kn === key.length && src.compare(key, 0, kn, s, s + kn) === 0;
        s += kn;
        const vn = shortLength(src, s);
        s += lengthSize(src, s);
        if (match) found = hashBytes(src, s, s + vn);
        s += vn;
      }
      r.at = s;
    }
    return found;
  }

  /** The metadata as an object, decoded (by avsc, as the general path does) on first use. */
  get metadata(): Record<string, string> {
    this.decoded ??= metadataType.decode(this.buf, this.metaStart).value as Record<string, string>;
    return this.decoded;
  }
}

/**
 * The event in `value` if it is plain Avro of the schema (after the framing `format` implies) and passes
 * every rule, else null (then the general path decides). JSON is always left to the general path.
 */
export function readPlainAvro(value: Buffer | null, format: Format, now: number): AvroEvent | null {
  if (!value || value.length === 0) return null;
  if (format === "json") return null;
  // Confluent framing: magic byte 0 and a schema id (in "auto", a leading 0 means that framing too).
  const start = format === "confluent" || (format === "auto" && value[0] === 0) ? 5 : 0;
  if (start === 5 && value[0] !== 0) return null;
  return readAt(value, start, now);
}

const UUID_LENGTH = 36;
const seenKeys = new Int32Array(2 * LIMITS.metadataMaxEntries); // readAt's (start, length of each key), reused
const ZIGZAG_36 = 72; // a string of 36 bytes: its length, zigzag-encoded, is this one byte

function readAt(b: Buffer, start: number, now: number): AvroEvent | null {
  const end = b.length;
  const r = { at: start };
  // user_id
  let at = start | 0;
  const userId = uuidAt(b, at);
  if (userId === null) return null;
  at += 1 + UUID_LENGTH;
  // event_type: ASCII here (anything else goes the general way)
  const typeLength = shortLength(b, at);
  if (typeLength < 1) return null;
  const typeAt = at + 1;
  if (typeAt + typeLength > end) return null;
  let high = 0; // bytes OR-ed: >= 0x80 if one is not ASCII
  for (let i = typeAt; i < typeAt + typeLength; i++) high |= b[i]!;
  if (high >= 0x80) return null;
  const eventType = latin1(b, typeAt, typeAt + typeLength);
  if (!isEventType(eventType)) return null;
  at = typeAt + typeLength;
  // event_time
  r.at = at;
  const eventTime = readLong(b, r);
  if (eventTimeFault(eventTime, now) !== null) return null;
  at = r.at | 0;
  // event_id
  const eventId = uuidAt(b, at);
  if (eventId === null) return null;
  at += 1 + UUID_LENGTH;
  // metadata: blocks of entries, ASCII keys and values within the bounds, no key twice
  const metaStart = at;
  let entries = 0;
  let chars = 0;
  let nk = 0; // start and length of each key in seenKeys, to look for duplicates
  for (;;) {
    r.at = at;
    let count = readLong(b, r);
    if (!(count >= -LIMITS.metadataMaxEntries && count <= LIMITS.metadataMaxEntries)) return null;
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      if (Number.isNaN(readLong(b, r))) return null; // the block's size in bytes
    }
    at = r.at | 0;
    entries += count | 0;
    if (!metadataFits.entries(entries)) return null;
    for (let i = 0; i < count; i++) {
      const kn = shortLength(b, at);
      if (!metadataFits.key(kn)) return null;
      const k0 = at + lengthSize(b, at);
      if (k0 + kn > end) return null;
      for (let j = k0; j < k0 + kn; j++) high |= b[j]!;
      if (kn === 9 && latin1(b, k0, k0 + 9) === "__proto__") return null; // as an object key it is special
      for (let j = 0; j < nk; j += 2) {
        if (seenKeys[j + 1] === kn && same(b, k0, seenKeys[j]!, kn)) return null;
      }
      seenKeys[nk++] = k0;
      seenKeys[nk++] = kn;
      at = k0 + kn;
      const vn = shortLength(b, at);
      if (vn < 0 || !metadataFits.value(vn)) return null;
      const v0 = at + lengthSize(b, at);
      if (v0 + vn > end) return null;
      for (let j = v0; j < v0 + vn; j++) high |= b[j]!;
      at = v0 + vn;
      chars += kn + vn;
      if (!metadataFits.total(chars)) return null;
    }
  }
  at = r.at | 0;
  if (at !== end || high >= 0x80) return null; // truncated, bytes after the record, or not ASCII
  return new AvroEvent(userId, eventType, eventTime, eventId, bucketDate(eventTime), b, metaStart, at, entries);
}

/** A 36-byte Avro string at `at` that is a UUID (rules.ts), made canonical as validate.ts does; else null. */
function uuidAt(b: Buffer, at: number): string | null {
  if (at + 1 + UUID_LENGTH > b.length || b[at] !== ZIGZAG_36) return null;
  const s = latin1(b, at + 1, at + 1 + UUID_LENGTH);
  const kind = uuidCase(s);
  return kind === 1 ? s : kind === 3 ? s.toLowerCase() : null;
}

/**
 * A non-negative Avro long of one or two bytes at `at` (lengths up to 8191: every length allowed here),
 * as an int; -1 for anything else (longer, negative, or past the end). Positions stay ints: a length
 * read as a double makes every later index a double, and a loop over bytes several times slower.
 * It takes `lengthSize(b, at)` bytes. row.ts reads the metadata's lengths again with it.
 */
export function shortLength(b: Buffer, at: number): number {
  const x = b[at];
  if (x === undefined || (x & 1) !== 0) return -1;
  if (x < 0x80) return x >>> 1;
  const y = b[at + 1];
  if (y === undefined || y >= 0x80) return -1;
  return ((x & 0x7f) | (y << 7)) >>> 1;
}

/** The bytes a shortLength at `at` takes. */
export const lengthSize = (b: Buffer, at: number): number => (b[at]! < 0x80 ? 1 : 2);

/** n bytes at x and at y are the same. */
function same(b: Buffer, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

/** Bytes as a string, one character per byte (for ASCII checked here). Node and Bun have it; their types do not. */
const latin1 = (b: Buffer, from: number, to: number): string => (b as unknown as { latin1Slice(f: number, t: number): string }).latin1Slice(from, to);

/**
 * A 53-bit hash of bytes (two 32-bit FNV-1a variants, 32 + 21 bits): for counting distinct values where a
 * collision (about n² / 2^54 for n values: 5e-7 for 100,000) costs nothing but a miscount by one.
 */
export function hashBytes(b: Buffer, from: number, to: number): number {
  let h1 = 0x811c9dc5, h2 = 0x050c5d1f;
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 13);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff);
}
