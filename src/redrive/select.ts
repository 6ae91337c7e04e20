/**
 * Which dead letters `events redrive` re-sends, and what it sends: pure, no I/O (redrive.ts does the Kafka).
 *
 * The loop guard has two halves, both in headers:
 *   - a redriven record carries `dlq.redriven` (how many times) and `dlq.redriven.from` (<dlq>/<partition>/<offset>).
 *     The consumer copies a record's headers into its dead letter, so a redriven record that fails again comes
 *     back carrying the count, and is refused once it reaches REDRIVE_MAX (default 1).
 *   - after a dead letter is re-sent (acknowledged), a marker goes to the same dead-letter partition: no value,
 *     header `dlq.redrive.of` = its offset. A marker always follows the record it marks, so a scan that has read
 *     a partition's markers knows which of its dead letters were redriven: a second redrive refuses them.
 */
import type { IHeaders, KafkaMessage, Message } from "kafkajs";
import type { OffsetRange } from "../cli/config.ts";
import { ADDED_HEADERS, TRUNCATED } from "../consume/deadletter.ts";

export const REDRIVEN = "dlq.redriven";
export const REDRIVEN_FROM = "dlq.redriven.from";
export const MARKER_OF = "dlq.redrive.of";

export interface Filter {
  /** Only dead letters of this source topic (KAFKA_TOPIC) are redriven, and to it. */
  sourceTopic: string;
  /** dlq.reason values; empty: all. */
  reasons: readonly string[];
  /** dlq.time bounds, epoch ms: since inclusive, until exclusive. */
  since: number | null;
  until: number | null;
  sourceOffsets: readonly OffsetRange[];
  maxRedrives: number;
}

/** Why a record of the dead-letter topic is not sent. The last three are refusals; the rest did not match. */
export type Skip = "marker" | "not_a_dead_letter" | "other_topic" | "filtered" | "truncated" | "redriven_too_often" | "already_redriven";
export const REFUSED: readonly Skip[] = ["truncated", "redriven_too_often", "already_redriven"];

export function header(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  const one = Array.isArray(v) ? v[v.length - 1] : v;
  return one === undefined ? undefined : one.toString();
}

/** For a marker, the offset of the dead letter it marks as redriven. */
export function markedOffset(m: KafkaMessage): string | undefined {
  return header(m.headers, MARKER_OF);
}

/**
 * "send", or why not. `redriven` holds the offsets (in this record's partition) that markers say were
 * redriven already.
 */
export function select(m: KafkaMessage, f: Filter, redriven: ReadonlySet<string>): "send" | Skip {
  const h = m.headers;
  if (markedOffset(m) !== undefined) return "marker";
  const reason = header(h, "dlq.reason");
  if (reason === undefined) return "not_a_dead_letter"; // e.g. the write probe, if a broker ever appended one
  if (header(h, "dlq.source.topic") !== f.sourceTopic) return "other_topic";
  if (f.reasons.length && !f.reasons.includes(reason)) return "filtered";
  const at = Date.parse(header(h, "dlq.time") ?? "");
  if (f.since !== null && !(at >= f.since)) return "filtered";
  if (f.until !== null && !(at < f.until)) return "filtered";
  if (f.sourceOffsets.length) {
    const partition = Number(header(h, "dlq.source.partition"));
    const offset = Number(header(h, "dlq.source.offset"));
    if (!f.sourceOffsets.some((r) => r.partition === partition && offset >= r.first && offset <= r.last)) return "filtered";
  }
  if (header(h, TRUNCATED) !== undefined) return "truncated"; // its value is not the original any more
  if (Number(header(h, REDRIVEN) ?? 0) >= f.maxRedrives) return "redriven_too_often";
  if (redriven.has(m.offset)) return "already_redriven";
  return "send";
}

/** The original key, value and headers (ours removed), with the loop guard's headers. */
export function redrivenMessage(m: KafkaMessage, dlqTopic: string, partition: number): Message {
  const headers: IHeaders = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) if (!ADDED_HEADERS.includes(k) && v !== undefined) headers[k] = v;
  headers[REDRIVEN] = String(Number(header(m.headers, REDRIVEN) ?? 0) + 1);
  headers[REDRIVEN_FROM] = `${dlqTopic}/${partition}/${m.offset}`;
  return { key: m.key, value: m.value, headers }; // stamped now: the event's own time is in its value
}

/** The marker that records, in the dead letter's own partition, that it was redriven. */
export function marker(partition: number, offset: string, sourceTopic: string, now: Date): Message & { partition: number } {
  return { partition, key: null, value: null, headers: { [MARKER_OF]: offset, "dlq.redrive.to": sourceTopic, "dlq.redrive.time": now.toISOString() } };
}
