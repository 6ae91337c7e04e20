/**
 * The decode boundary: Kafka value bytes → a StoredEvent (validated, with its bucket_date), or a thrown
 * BadRecord with its reason. The consume path calls nothing else of the codec.
 *
 * Two ways, one set of rules (rules.ts): well-formed plain Avro is read straight from its bytes
 * (avro-fast.ts: it only ever says "passes" or "not for me"); everything else, and everything it leaves,
 * is parsed (formats.ts) and validated (validate.ts), which names what is wrong.
 */
import { readPlainAvro } from "./avro-fast.ts";
import type { StoredEvent } from "./event.ts";
import { decodeRaw, type Format } from "./formats.ts";
import { toEvent } from "./validate.ts";

export type { Format } from "./formats.ts";

export function decodeEvent(value: Buffer | null, format: Format, now: number): StoredEvent {
  return readPlainAvro(value, format, now) ?? toEvent(decodeRaw(value, format), now);
}
