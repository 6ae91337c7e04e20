/**
 * What a request to `POST /v1/events` brings in, decided without I/O: the body → events (JSON, a JSON array,
 * NDJSON, or text/plain as navigator.sendBeacon sends it), each filled in (event_id, event_time, what the
 * collector knows) and validated by the consumer's own rules (codec/validate.ts), or rejected with its index
 * and reason. The limits are the README's ("Collecting from a website").
 */
import { BadRecord, type BadReason } from "../codec/event.ts";
import type { EventRecord } from "../codec/encode.ts";
import { rawFields } from "../codec/formats.ts";
import { toEvent } from "../codec/validate.ts";

export const COLLECT_LIMITS = {
  eventBytes: 32 * 1024,
  requestBytes: 512 * 1024,
  batchEvents: 500,
  /** A user agent longer than this is cut: it is for people reading an event, not for parsing. */
  userAgentChars: 512,
} as const;

/** Refused as a whole, with an HTTP status and one line saying why. */
export class Refused extends Error {
  constructor(readonly status: 400 | 413 | 415, message: string) {
    super(message);
  }
}

export interface Rejected {
  index: number;
  reason: BadReason | "not_an_object";
  message: string;
}

/** What the collector knows about a request, and the two things a pure function must be handed. */
export interface RequestContext {
  now: number;
  userAgent?: string;
  /** Only where COLLECT_RECORD_IP is true. */
  clientIp?: string;
  newId(): string;
}

const TYPES = ["application/json", "application/x-ndjson", "application/ndjson", "text/plain"];

/** The body's items, in order: each is parsed JSON, or a BadRecord for an NDJSON line that is not JSON. */
export function parseBody(body: string, contentType: string | undefined): (unknown | BadRecord)[] {
  const type = (contentType ?? "text/plain").split(";")[0]!.trim().toLowerCase();
  if (!TYPES.includes(type)) throw new Refused(415, `Content-Type ${type} is not accepted: send application/json, application/x-ndjson or text/plain`);
  if (Buffer.byteLength(body) > COLLECT_LIMITS.requestBytes) throw new Refused(413, `the request is larger than ${COLLECT_LIMITS.requestBytes / 1024} KiB`);
  const text = body.trim();
  if (text === "") throw new Refused(400, "the body is empty: send one event, a JSON array of events, or NDJSON");
  let items: (unknown | BadRecord)[];
  // One JSON value (an event or an array of them), else NDJSON: one event per line. text/plain may be either.
  const whole = type === "application/x-ndjson" || type === "application/ndjson" ? undefined : tryJson(text);
  if (whole !== undefined) items = Array.isArray(whole.value) ? whole.value : [whole.value];
  else if (type === "application/json") throw new Refused(400, `the body is not JSON: ${jsonError(text)}`);
  else items = text.split("\n").filter((l) => l.trim() !== "").map((l) => tryJson(l)?.value ?? new BadRecord("undecodable", `not JSON: ${jsonError(l)}`));
  if (items.length > COLLECT_LIMITS.batchEvents) throw new Refused(413, `${items.length} events in one request; at most ${COLLECT_LIMITS.batchEvents}`);
  if (items.length === 0) throw new Refused(400, "the array is empty");
  // No event can be larger than a body that is not: only a large body is measured event by event.
  if (Buffer.byteLength(text) > COLLECT_LIMITS.eventBytes) {
    items.forEach((item, index) => {
      if (item instanceof BadRecord) return;
      const bytes = Buffer.byteLength(JSON.stringify(item));
      if (bytes > COLLECT_LIMITS.eventBytes) throw new Refused(413, `event ${index} is ${bytes} bytes; at most ${COLLECT_LIMITS.eventBytes / 1024} KiB per event`);
    });
  }
  return items;
}

function tryJson(s: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(s) };
  } catch {
    return undefined;
  }
}

function jsonError(s: string): string {
  try {
    JSON.parse(s);
    return "";
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Each item → an event for Kafka, or its rejection. Filled in first: a missing event_id gets a new one, a missing
 * event_time is the receive time; metadata gains received_at, user_agent and (if recorded) client_ip, which
 * overwrite a client's own keys of those names. Then the consumer's rules decide, on exactly what is produced.
 */
export function admit(items: (unknown | BadRecord)[], ctx: RequestContext): { accepted: EventRecord[]; rejected: Rejected[] } {
  const accepted: EventRecord[] = [];
  const rejected: Rejected[] = [];
  const extra: Record<string, string> = { received_at: String(ctx.now) };
  if (ctx.userAgent) extra.user_agent = ctx.userAgent.slice(0, COLLECT_LIMITS.userAgentChars);
  if (ctx.clientIp) extra.client_ip = ctx.clientIp;
  items.forEach((item, index) => {
    try {
      if (item instanceof BadRecord) throw item;
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        rejected.push({ index, reason: "not_an_object", message: "an event is a JSON object" });
        return;
      }
      const raw = rawFields(item);
      raw.event_id ??= ctx.newId();
      raw.event_time ??= ctx.now;
      const m = raw.metadata;
      // A metadata that is not a map is left as it came, for the rules to name.
      if (m === undefined || m === null) raw.metadata = { ...extra };
      else if (typeof m === "object" && !Array.isArray(m)) raw.metadata = { ...(m as Record<string, unknown>), ...extra };
      const e = toEvent(raw, ctx.now);
      accepted.push({ user_id: e.userId, event_type: e.eventType, event_time: e.eventTime, event_id: e.eventId, metadata: e.metadata });
    } catch (err) {
      if (!(err instanceof BadRecord)) throw err;
      rejected.push({ index, reason: err.reason, message: err.message });
    }
  });
  return { accepted, rejected };
}
