/**
 * The decode boundary: Kafka value bytes → a StoredEvent (validated, with its bucket_date), or a thrown
 * BadRecord with its reason. The consume path calls nothing else of the codec.
 *
 * Two ways, one set of rules (rules.ts): well-formed plain Avro is read straight from its bytes
 * (avro-fast.ts: it only ever says "passes" or "not for me"); everything else, and everything it leaves,
 * is parsed (formats.ts) and validated (validate.ts), which names what is wrong. With a schema registry,
 * a Confluent-framed record whose writer schema is not ours is read with it and resolved (resolved.ts).
 */
import { readPlainAvro } from "./avro-fast.ts";
import type { StoredEvent } from "./event.ts";
import { decodeRaw, type Format, schemaId } from "./formats.ts";
import { decodeResolved, type Writer } from "./resolved.ts";
import { toEvent } from "./validate.ts";

export type { Format } from "./formats.ts";

/** The writer schemas of schema ids, loaded before the records that name them are decoded (registry.ts). */
export interface WriterSchemas {
  lookup(id: number): Writer | undefined;
}

export function decodeEvent(value: Buffer | null, format: Format, now: number, schemas?: WriterSchemas): StoredEvent {
  if (schemas) {
    const id = schemaId(value, format);
    if (id !== undefined) {
      const writer = schemas.lookup(id);
      if (!writer) throw new Error(`schema id ${id} was not loaded before decoding`); // a bug: load() comes first
      if (writer.kind !== "same") return toEvent(decodeResolved(value!, id, writer), now);
    }
  }
  return readPlainAvro(value, format, now) ?? toEvent(decodeRaw(value, format), now);
}
