/** The shapes that flow through the pipeline, from Kafka bytes to a Cassandra row. */

/** A user action as the website reports it: the design's Avro record, validated. */
export interface UserEvent {
  userId: string; // canonical lower-case UUID
  eventType: string;
  eventTime: number; // epoch milliseconds, UTC
  eventId: string; // canonical lower-case UUID
  metadata: Record<string, string>;
}

/** What the sink writes: the event and its partition bucket (the UTC calendar date of event_time). */
export interface StoredEvent extends UserEvent {
  bucketDate: string; // YYYY-MM-DD
}

/** A record that cannot become an event: why, in a stable class for metrics and a detail for people. */
export class BadRecord extends Error {
  constructor(
    readonly reason: BadReason,
    detail: string,
  ) {
    super(detail);
  }
}

export type BadReason =
  | "undecodable" // not JSON, not Avro of the schema, truncated, trailing bytes
  | "unknown_schema" // Confluent framing with a schema id the registry does not know (SCHEMA_REGISTRY_URL)
  | "incompatible_schema" // a registered writer schema that Avro's rules cannot resolve to UserEvent
  | "missing_field"
  | "wrong_type"
  | "invalid_uuid"
  | "invalid_event_type"
  | "invalid_event_time" // not an integer, before 2000 or more than a day ahead of the clock
  | "invalid_metadata" // nested values, or beyond the documented bounds
  | "late" // behind the watermark, with LATE_EVENTS=dlq
  | "rejected_by_cassandra"; // Cassandra refused the row itself (never an outage: those are retried)
