/** Writer schemas a producer's evolution might register, and Confluent framing with them (tests only). */
import avro from "avsc";
import schema from "../../src/codec/user_event.avsc" with { type: "json" };

const base = schema as { type: string; name: string; namespace: string; fields: { name: string }[] };
const field = (name: string) => base.fields.find((f) => f.name === name)!;

export const WRITERS = {
  /** An optional field added, with a default: Avro's backward-compatible change. */
  addedOptional: { ...base, fields: [...base.fields.slice(0, 2), { name: "session_id", type: ["null", "string"], default: null }, ...base.fields.slice(2)] },
  /** The same fields in another order. */
  reordered: { ...base, fields: ["event_id", "metadata", "event_time", "user_id", "event_type"].map(field) },
  /** event_id removed: the reader has no default for it, so nothing of this schema can be read. */
  incompatible: { ...base, fields: base.fields.filter((f) => f.name !== "event_id") },
};

export function framed(writer: object, id: number, record: object): Buffer {
  const body = avro.Type.forSchema(writer as avro.Schema).toBuffer(record);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(id, 1);
  body.copy(out, 5);
  return out;
}
