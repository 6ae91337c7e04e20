/**
 * Formats: Kafka value bytes → an untyped record with the schema's field names (the general path).
 *
 *   confluent  magic byte 0, a 4-byte schema id, then Avro binary of the schema
 *   avro       Avro binary of the schema (src/codec/user_event.avsc), nothing else
 *   json       a JSON object, as the seed's Java producer sends it
 *   auto       tells the three apart by the first byte: `{` is JSON (as Avro it would be a negative
 *              string length), 0x00 is Confluent framing (as Avro an empty user_id, invalid anyway),
 *              anything else is plain Avro.
 * Types and values are checked in validate.ts; here only the bytes' grammar is.
 */
import avro from "avsc";
import schema from "./user_event.avsc" with { type: "json" };
import { BadRecord } from "./event.ts";

export type Format = "auto" | "avro" | "confluent" | "json";

/** The Avro type of the design's schema; the same object encodes in simulate and decodes here. */
export const userEventType = avro.Type.forSchema(schema as avro.Schema);
/** Its metadata field's type (map<string>), for reading that field alone (avro-fast.ts). */
export const metadataType = (userEventType as avro.types.RecordType).field("metadata")!.type;

export interface RawEvent {
  user_id?: unknown;
  event_type?: unknown;
  event_time?: unknown;
  event_id?: unknown;
  metadata?: unknown;
}

export const MAGIC = 0x00;
const OPEN_BRACE = 0x7b;

/** The schema id of a Confluent-framed value (format confluent, or auto with the magic byte), else undefined. */
export function schemaId(value: Buffer | null, format: Format): number | undefined {
  if (!value || value.length < 5 || value[0] !== MAGIC || (format !== "confluent" && format !== "auto")) return undefined;
  return value.readUInt32BE(1);
}

export function decodeRaw(value: Buffer | null, format: Format): RawEvent {
  if (!value || value.length === 0) throw new BadRecord("undecodable", "empty value");
  switch (format) {
    case "json":
      return fromJson(value);
    case "avro":
      return fromAvro(value, 0);
    case "confluent":
      if (value[0] !== MAGIC || value.length < 5) throw new BadRecord("undecodable", "not Confluent framing (magic byte 0 + 4-byte schema id)");
      return fromAvro(value, 5);
    case "auto": {
      // JSON may start with whitespace. A valid event's Avro starts with 0x48, the zigzag length of a
      // 36-character UUID, so reading these bytes as JSON never takes a valid Avro event away.
      const first = value[0]!;
      if (first === OPEN_BRACE || first === 0x20 || first === 0x0a || first === 0x0d || first === 0x09) return fromJson(value);
      if (first === MAGIC) {
        if (value.length < 5) throw new BadRecord("undecodable", "truncated Confluent framing");
        return fromAvro(value, 5);
      }
      return fromAvro(value, 0);
    }
  }
}

function fromAvro(buf: Buffer, offset: number): RawEvent {
  if (!fits(userEventType, buf, { at: offset })) throw new BadRecord("undecodable", "not Avro of the UserEvent schema: a length or count runs past the end");
  let res: { value: unknown; offset: number };
  try {
    res = userEventType.decode(buf, offset) as { value: unknown; offset: number };
  } catch (e) {
    throw new BadRecord("undecodable", `not Avro of the UserEvent schema: ${(e as Error).message}`);
  }
  if (res.offset < 0) throw new BadRecord("undecodable", "truncated Avro record");
  if (res.offset !== buf.length) throw new BadRecord("undecodable", `${buf.length - res.offset} bytes after the Avro record`);
  return res.value as RawEvent;
}

/**
 * Whether every length and count of a record of `type` at r.at fits in the bytes left, advancing r.at. avsc
 * trusts them: a map's block count corrupted into 2^40 makes it loop that many times past the end of the
 * buffer (fuzzing found one flipped byte that stalled a partition for good). Walked here first, with each
 * checked against the bytes left, avsc only ever decodes what fits. Any schema: ours, or a writer's
 * (resolved.ts).
 */
export function fits(type: avro.Type, b: Buffer, r: { at: number }): boolean {
  const t = type as avro.Type & { fields?: { type: avro.Type }[]; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type; size?: number };
  switch (t.typeName) {
    case "null": return true;
    case "boolean": return r.at++ < b.length;
    case "int": case "long": case "enum": return !Number.isNaN(readLong(b, r));
    case "float": return (r.at += 4) <= b.length;
    case "double": return (r.at += 8) <= b.length;
    case "fixed": return (r.at += t.size!) <= b.length;
    case "string": case "bytes": {
      const n = readLong(b, r);
      return n >= 0 && (r.at += n) <= b.length;
    }
    case "record": case "error": return t.fields!.every((f) => fits(f.type, b, r));
    case "union:unwrapped": case "union:wrapped": {
      const i = readLong(b, r);
      return Number.isInteger(i) && i >= 0 && i < t.types!.length && fits(t.types![i]!, b, r);
    }
    case "array": case "map": {
      const map = t.typeName === "map";
      const items = map ? t.valuesType! : t.itemsType!;
      for (;;) {
        let n = readLong(b, r);
        if (Number.isNaN(n)) return false;
        if (n === 0) return true;
        if (n < 0) {
          n = -n;
          if (Number.isNaN(readLong(b, r))) return false; // the block's size in bytes
        }
        if (n > b.length - r.at) return false; // an item takes a byte at least (an array of nulls none: not an event's)
        for (let i = 0; i < n; i++) if ((map && !fits(STRING, b, r)) || !fits(items, b, r)) return false;
      }
    }
    default:
      // A logical type avsc implements: its underlying type is what is on the wire.
      return "underlyingType" in t ? fits((t as unknown as { underlyingType: avro.Type }).underlyingType, b, r) : false;
  }
}
const STRING = avro.Type.forSchema("string");

/**
 * An Avro long (zigzag varint, at most 10 bytes) at r.at, advancing r.at; NaN past the end. Exact up to
 * 2^53, approximate beyond (no length, count or valid time comes near).
 */
export function readLong(b: Buffer, r: { at: number }): number {
  let n = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = b[r.at++];
    if (byte === undefined) return Number.NaN;
    n += (byte & 0x7f) * scale;
    if (byte < 0x80) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
    scale *= 128;
  }
  return Number.NaN;
}

function fromJson(buf: Buffer): RawEvent {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString("utf8"));
  } catch (e) {
    throw new BadRecord("undecodable", `not JSON: ${(e as Error).message}`);
  }
  return rawFields(v);
}

/**
 * A parsed JSON value → the schema's fields (JSON records in Kafka, and events posted to `events collect`). The
 * seed's producer writes snake_case; camelCase (a Jackson default) is accepted too.
 */
export function rawFields(v: unknown): RawEvent {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BadRecord("wrong_type", "JSON value is not an object");
  const o = v as Record<string, unknown>;
  return {
    user_id: o.user_id ?? o.userId,
    event_type: o.event_type ?? o.eventType,
    event_time: o.event_time ?? o.eventTime,
    event_id: o.event_id ?? o.eventId,
    metadata: o.metadata,
  };
}
