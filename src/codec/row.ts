/**
 * A StoredEvent as the sink's INSERT values, already serialized the way Cassandra's native protocol
 * carries them; cassandra-driver sends a Buffer value as it is.
 *
 * Why not let the driver encode: it allocates a Buffer for every string and every length prefix and
 * concatenates them per map, about thirty allocations for a row with seven metadata entries. In a CPU
 * profile of `events consume` that was the largest single cost (a fifth of the process), and most of
 * its garbage. Here rows are written into a reused buffer, and the few distinct event types and
 * dates are encoded once.
 *
 * Formats (native protocol v3+): uuid = 16 bytes; date = uint32 days with 2^31 as the epoch;
 * timestamp = int64 milliseconds, big-endian; text = UTF-8; map<text,text> = int32 count, then for
 * each entry int32 length + key bytes, int32 length + value bytes.
 */
import cassandra from "cassandra-driver";
import { AvroEvent, lengthSize, shortLength } from "./avro-fast.ts";
import { readLong } from "./formats.ts";
import type { StoredEvent } from "./event.ts";

/**
 * Writes rows' values into one buffer it keeps and reuses: the caller resets it only when the values
 * of the previous rows are sent and acknowledged (the sink has one writer per concurrent request), so
 * serializing produces no garbage but the small views.
 */
export class RowWriter {
  private buf: Buffer;
  private used = 0;

  constructor(
    bytes = 64 * 1024,
    private readonly bucket: Bucket = "day",
  ) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  /** Start over: the values returned so far must not be in use any more. */
  reset(): void {
    this.used = 0;
  }

  /** The six values of INSERT (user_id, bucket_date or bucket_hour, event_time, event_type, event_id, metadata). */
  values(e: StoredEvent): Buffer[] {
    // Metadata still in Avro bytes (avro-fast.ts) is copied as it is; only the length prefixes change.
    const avro = e instanceof AvroEvent ? e : null;
    const meta = avro ? null : e.metadata;
    // An upper bound of the bytes: a UTF-16 code unit is at most 3 bytes of UTF-8; an Avro length is 1+ bytes.
    let max = 16 + 16 + 8 + 4;
    if (avro) max += avro.metadataRowBytes;
    else for (const k in meta) max += 8 + 3 * (k.length + meta[k]!.length);
    if (this.used + max > this.buf.length) {
      // Rows already written keep the old buffer alive until they are sent; later ones use a larger one.
      this.buf = Buffer.allocUnsafe(Math.max(2 * this.buf.length, max));
      this.used = 0;
    }
    const b = this.buf;
    const start = this.used;
    writeUuid(b, start, e.userId);
    writeUuid(b, start + 16, e.eventId);
    const hi = Math.floor(e.eventTime / 2 ** 32);
    b.writeInt32BE(hi, start + 32);
    b.writeUInt32BE(e.eventTime - hi * 2 ** 32, start + 36);
    let o = start + 44;
    let count = 0;
    if (avro) {
      o = copyMetadata(avro, b, o);
      count = avro.metaCount;
    } else {
      for (const k in meta) {
        const kn = b.write(k, o + 4, "utf8");
        b.writeInt32BE(kn, o);
        o += 4 + kn;
        const vn = b.write(meta[k]!, o + 4, "utf8");
        b.writeInt32BE(vn, o);
        o += 4 + vn;
        count++;
      }
    }
    b.writeInt32BE(count, start + 40);
    this.used = o;
    return [b.subarray(start, start + 16), bucketBytes(this.bucket, e), b.subarray(start + 32, start + 40), textBytes(e.eventType),
      b.subarray(start + 16, start + 32), b.subarray(start + 40, o)];
  }
}

/** An estimate of a row's size in a batch: the values plus per-cell overhead (the sink's batch bound). */
export function rowBytes(e: StoredEvent): number {
  const n = 64 + e.eventType.length;
  if (e instanceof AvroEvent) return n + e.metadataRowBytes; // without making its metadata an object
  let m = n;
  for (const k in e.metadata) m += k.length + e.metadata[k]!.length + 8;
  return m;
}

/**
 * An Avro map<string> (checked by readPlainAvro) → a Cassandra map<text,text>'s entries at b[at..]; the end.
 * Positions are kept ints and short strings copied byte by byte: a native copy per string cost more than
 * the bytes it moves (about 16 strings per row, most under 20 bytes).
 */
function copyMetadata(e: AvroEvent, b: Buffer, at: number): number {
  const src = e.buf;
  const end = e.metaEnd | 0;
  const r = { at: e.metaStart | 0 };
  let o = at | 0;
  while (r.at < end) {
    let count = readLong(src, r);
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      readLong(src, r); // the block's size in bytes
    }
    let s = r.at | 0;
    for (let i = 0; i < 2 * count; i++) {
      // key, value, key, value…: a zigzag length + bytes becomes an int32 length + the same bytes
      // (one or two bytes each, as readPlainAvro checked)
      const n = shortLength(src, s);
      s += lengthSize(src, s);
      b[o] = 0;
      b[o + 1] = 0;
      b[o + 2] = n >>> 8;
      b[o + 3] = n & 0xff;
      o += 4;
      if (n > 64) src.copy(b, o, s, s + n);
      else for (let j = 0; j < n; j++) b[o + j] = src[s + j]!;
      o += n;
      s += n;
    }
    r.at = s;
  }
  return o;
}

/** A canonical UUID string (as the decoder makes it) → its 16 bytes at b[at..at+16). */
export function writeUuid(b: Buffer, at: number, uuid: string): void {
  let o = at;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++; // the dashes
    b[o++] = (hex(uuid.charCodeAt(i)) << 4) | hex(uuid.charCodeAt(i + 1));
  }
}

function hex(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87; // '0'-'9', 'a'-'f' (and 'A'-'F')
}

/** A function of a string remembered for the last 1,000 distinct strings. */
function remembered(make: (s: string) => Buffer): (s: string) => Buffer {
  const known = new Map<string, Buffer>();
  return (s) => {
    let buf = known.get(s);
    if (!buf) {
      if (known.size >= 1000) known.clear();
      known.set(s, (buf = make(s)));
    }
    return buf;
  };
}

/** Event types are few: each is encoded once. */
const textBytes = remembered((s) => Buffer.from(s, "utf8"));

/** Bucket dates are few too (mostly one per day). */
export const dateBytes = remembered((day) => cassandra.types.LocalDate.fromString(day).toBuffer());

/**
 * BUCKET: how a user's events are partitioned. day (the seed's table): (user_id, bucket_date), the UTC date;
 * hour: (user_id, bucket_hour), the start of the UTC hour, in user_events_by_hour (cql/hour.cql).
 */
export type Bucket = "day" | "hour";
export const BUCKET_TABLES = {
  day: { table: "user_events", column: "bucket_date" },
  hour: { table: "user_events_by_hour", column: "bucket_hour" },
} as const;

const HOUR_MS = 3_600_000;
let lastHour = Number.NaN;
let lastHourBytes = Buffer.alloc(8);
/** The start of the event's UTC hour as a CQL timestamp (8 bytes, ms since the epoch). */
export function hourBytes(eventTime: number): Buffer {
  const hour = Math.floor(eventTime / HOUR_MS);
  if (hour !== lastHour) {
    lastHour = hour;
    lastHourBytes = Buffer.allocUnsafe(8);
    lastHourBytes.writeBigInt64BE(BigInt(hour * HOUR_MS));
  }
  return lastHourBytes;
}

/** The serialized bucket column of a row. */
export const bucketBytes = (bucket: Bucket, e: StoredEvent): Buffer => (bucket === "day" ? dateBytes(e.bucketDate) : hourBytes(e.eventTime));
