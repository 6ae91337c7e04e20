/** Encoders for producers (simulate, tests, the benchmark): the design's record in each format. */
import { type Format, MAGIC, userEventType } from "./formats.ts";

export interface EventRecord {
  user_id: string;
  event_type: string;
  event_time: number;
  event_id: string;
  metadata: Record<string, string>;
}

export function encode(e: EventRecord, format: Exclude<Format, "auto">, schemaId = 1): Buffer {
  switch (format) {
    case "json":
      return Buffer.from(JSON.stringify(e));
    case "avro":
      return userEventType.toBuffer(e);
    case "confluent": {
      const body = userEventType.toBuffer(e);
      const out = Buffer.allocUnsafe(5 + body.length);
      out[0] = MAGIC;
      out.writeUInt32BE(schemaId, 1);
      body.copy(out, 5);
      return out;
    }
  }
}
