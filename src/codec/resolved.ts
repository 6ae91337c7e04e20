/**
 * Confluent-framed records written with another schema than ours: read with the writer schema their id
 * names (from the registry, src/registry/registry.ts) and resolved to the project's reader schema by Avro's
 * rules (fields added with defaults, removed, reordered, promoted), as avsc's resolvers do.
 *
 *   Writer  what the registry said about one schema id: the same schema as ours (read as today), one that
 *           resolves to ours, one that cannot (incompatible), or an id it does not know.
 */
import avro from "avsc";
import { BadRecord } from "./event.ts";
import { fits, type RawEvent, userEventType } from "./formats.ts";

export type Writer =
  | { kind: "same" }
  | { kind: "resolved"; type: avro.Type; resolver: avro.Resolver }
  | { kind: "incompatible"; detail: string }
  | { kind: "unknown" };

/** What the registry's schema text for an id means for reading it as a UserEvent. */
export function writerOf(schemaText: string): Writer {
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(JSON.parse(schemaText) as avro.Schema);
  } catch (e) {
    return { kind: "incompatible", detail: `not an Avro schema: ${(e as Error).message}` };
  }
  if (type.equals(userEventType)) return { kind: "same" };
  try {
    return { kind: "resolved", type, resolver: userEventType.createResolver(type) };
  } catch (e) {
    return { kind: "incompatible", detail: `cannot be read as UserEvent: ${(e as Error).message}` };
  }
}

/** The record after the 5-byte framing, read with its writer schema, as the reader schema's fields. */
export function decodeResolved(value: Buffer, id: number, w: Writer): RawEvent {
  switch (w.kind) {
    case "unknown":
      throw new BadRecord("unknown_schema", `schema id ${id} is not in the registry`);
    case "incompatible":
      throw new BadRecord("incompatible_schema", `schema id ${id} ${w.detail}`);
    case "same":
      throw new Error("decodeResolved is for other schemas than ours"); // the caller reads those as plain Avro
    case "resolved": {
      if (!fits(w.type, value, { at: 5 })) throw new BadRecord("undecodable", `not Avro of schema id ${id}: a length or count runs past the end`);
      let res: { value: unknown; offset: number };
      try {
        res = userEventType.decode(value, 5, w.resolver) as { value: unknown; offset: number };
      } catch (e) {
        throw new BadRecord("undecodable", `not Avro of schema id ${id}: ${(e as Error).message}`);
      }
      if (res.offset < 0) throw new BadRecord("undecodable", `truncated Avro record (schema id ${id})`);
      if (res.offset !== value.length) throw new BadRecord("undecodable", `${value.length - res.offset} bytes after the Avro record (schema id ${id})`);
      return res.value as RawEvent;
    }
  }
}
