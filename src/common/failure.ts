/**
 * The failure policy, written once. Every error the pipeline meets is one of three actions:
 *
 *   wait    an outage: retried with backoff; the partition waits, nothing is committed past it
 *   reject  the record itself is bad: it is dead-lettered with its reason, the partition moves on
 *   stop    the deployment is wrong: the process exits non-zero with one line naming the cause and what to do;
 *           nothing is committed past the failing records and nothing is dead-lettered for it
 *
 * POLICY is that table, in order (the first rule that matches an error decides); the README's copy is
 * rendered from it (policyTable) and a unit test walks every row with its example error. Code that meets
 * an error asks classify(); nothing else decides.
 */
import cassandra from "cassandra-driver";
import { BadRecord } from "../codec/event.ts";
import { hostErrors } from "../cassandra/client.ts";
import { RegistryError } from "../registry/errors.ts";
import {
  KafkaJSConnectionError, KafkaJSNotImplemented, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} from "kafkajs";

export type Action = "wait" | "reject" | "stop";
export type Origin = "record" | "cassandra" | "dead-letter producer" | "kafka consumer" | "schema registry" | "collector producer";

/** A wrong deployment: its message is the one line the process exits with. */
export class Stop extends Error {
  override name = "Stop";
}

export interface Rule {
  from: Origin;
  /** What the error is, for a person. */
  error: string;
  action: Action;
  /** What happens (wait, reject) or what to do (stop). */
  then: string;
  matches(e: unknown): boolean;
  /** An error this rule is for, as the library raises it (for the unit test that walks the table). */
  example(): unknown;
}

const { ResponseError, NoHostAvailableError, OperationTimedOutError, AuthenticationError, ArgumentError, NotSupportedError } = cassandra.errors;
const c = cassandra.types.responseErrorCodes;

const code = (e: unknown): number | undefined => (e instanceof ResponseError ? e.code : undefined);
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));
/** The broker's error type (KafkaJS protocol errors), looking through "retries exceeded" to its cause. */
export const kafkaType = (e: unknown): string | undefined => {
  if (e instanceof KafkaJSNumberOfRetriesExceeded) return kafkaType(e.cause);
  return e instanceof KafkaJSProtocolError ? e.type : undefined;
};
/** KafkaJS's error classes take a message at run time; their type declarations say they take none. */
const withMessage = (C: new () => Error, message: string): Error => new (C as unknown as new (m: string) => Error)(message);
const kafkaTypes = (...types: string[]) => (e: unknown) => types.includes(kafkaType(e) ?? "");
const kafkaError = (type: string, code: number, message: string, retriable = false) =>
  new KafkaJSProtocolError({ type, code, retriable, message } as unknown as Error);
const saslFailed = (e: unknown): boolean =>
  e instanceof KafkaJSSASLAuthenticationError || kafkaType(e) === "SASL_AUTHENTICATION_FAILED" ||
  (e instanceof KafkaJSNumberOfRetriesExceeded && saslFailed(e.cause));
const saslExample = () => withMessage(KafkaJSSASLAuthenticationError, "SASL SCRAM SHA256 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256");
const cassandraAuthFailed = (e: unknown): boolean =>
  e instanceof AuthenticationError || code(e) === c.badCredentials ||
  (e instanceof NoHostAvailableError && Object.values(e.innerErrors ?? {}).some(cassandraAuthFailed));
/** A producer's SASL login refused: a stop, for every Kafka client. */
const saslStop = (from: Origin): Rule => ({
  from, error: "SASL authentication failed", action: "stop",
  then: "check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", matches: saslFailed, example: saslExample,
});
/** The topic's settings refuse what a producer sends (these types, any UNSUPPORTED_*, or a codec KafkaJS lacks). */
const topicRefuses = (...types: string[]) => (e: unknown): boolean =>
  types.includes(kafkaType(e) ?? "") || (kafkaType(e) ?? "").startsWith("UNSUPPORTED_") || e instanceof KafkaJSNotImplemented;
/** An `invalid` answer about the statement or the table, not about the row's values. */
const SCHEMA_MISMATCH = /unconfigured table|does not exist|Undefined column|Unknown identifier|bind variables|Invalid .*type/i;

export const POLICY: Rule[] = [
  {
    from: "record", error: "cannot be decoded or fails validation (undecodable, invalid_uuid, …)", action: "reject",
    then: "dead-lettered with its dlq.reason", matches: (e) => e instanceof BadRecord,
    example: () => new BadRecord("undecodable", "not JSON: Unexpected token"),
  },
  {
    from: "record", error: "anything else thrown while decoding", action: "stop",
    then: "a bug in the decoder, not bad input: report it with this line", matches: () => true,
    example: () => new TypeError("Cannot read properties of undefined (reading 'length')"),
  },
  // Cassandra
  {
    from: "cassandra", error: "unauthorized: the role lacks a permission (MODIFY on the table)", action: "stop",
    then: "grant it (GRANT MODIFY ON TABLE <keyspace>.user_events TO <role>), then start again",
    matches: (e) => code(e) === c.unauthorized,
    example: () => new ResponseError(c.unauthorized, "User events has no MODIFY permission on <table events.user_events> or any of its parents"),
  },
  {
    from: "cassandra", error: "authentication failed (bad credentials)", action: "stop",
    then: "check CASSANDRA_USERNAME and CASSANDRA_PASSWORD", matches: cassandraAuthFailed,
    example: () => new NoHostAvailableError({ "127.0.0.1:9042": new AuthenticationError("Provided username events and/or password are incorrect") }),
  },
  {
    from: "cassandra", error: "missing keyspace, table or column (unconfigured table, Unknown CF), wrong bind variables", action: "stop",
    then: "run `events migrate` (or point CASSANDRA_KEYSPACE at the migrated keyspace)",
    // A table dropped under running writes also answers serverError "Unknown CF <id>" (the table's id).
    matches: (e) => (code(e) === c.invalid && SCHEMA_MISMATCH.test(msg(e))) || (e instanceof ResponseError && /Unknown CF|unconfigured table/i.test(msg(e))),
    example: () => new ResponseError(c.invalid, "unconfigured table user_events"),
  },
  {
    from: "cassandra", error: "syntax, configuration or protocol error, already exists", action: "stop",
    then: "the statement does not fit this cluster: check the Cassandra version (4.0+) and the schema",
    matches: (e) => [c.syntaxError, c.configError, c.alreadyExists, c.protocolError].includes(code(e) ?? -1) || e instanceof NotSupportedError,
    example: () => new ResponseError(c.syntaxError, "line 1:7 no viable alternative at input 'INTO'"),
  },
  {
    from: "cassandra", error: "the driver cannot encode a value (TypeError, RangeError, ArgumentError)", action: "stop",
    then: "a bug in the row encoder, not bad input (validation passed): report it with this line",
    matches: (e) => e instanceof TypeError || e instanceof RangeError || e instanceof ArgumentError,
    example: () => new TypeError("Not a valid bigint, expected Long/Number/String/Buffer, obtained 'x'"),
  },
  {
    from: "cassandra", error: "invalid: Cassandra refuses the row's values", action: "reject",
    then: "dead-lettered as `rejected_by_cassandra`", matches: (e) => code(e) === c.invalid,
    example: () => new ResponseError(c.invalid, "Key length of 70000 is longer than maximum of 65535"),
  },
  {
    from: "cassandra", error: "unavailable, overloaded, bootstrapping, write timeout, write failure, server error", action: "wait",
    then: "retried with backoff (100 ms doubling to 5 s); the partition waits", matches: (e) => e instanceof ResponseError,
    example: () => new ResponseError(c.unavailableException, "Cannot achieve consistency level LOCAL_QUORUM"),
  },
  {
    from: "cassandra", error: "no host available, operation timed out, connection lost", action: "wait",
    then: "retried with backoff; the partition waits", matches: () => true,
    example: () => new OperationTimedOutError("The host 127.0.0.1:9042 did not reply before timeout 12000 ms"),
  },
  // The dead-letter producer
  {
    from: "dead-letter producer", error: "MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE", action: "reject",
    then: "the record is sent again with its value cut to fit (headers dlq.truncated, dlq.original.size, dlq.original.sha256)",
    matches: kafkaTypes("MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"),
    example: () => kafkaError("MESSAGE_TOO_LARGE", 10, "The request included a message larger than the max message size the server will accept"),
  },
  {
    from: "dead-letter producer", error: "TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED", action: "stop",
    then: "grant the consumer's principal WRITE on KAFKA_DLQ_TOPIC",
    matches: kafkaTypes("TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
    example: () => kafkaError("TOPIC_AUTHORIZATION_FAILED", 29, "Not authorized to access topics: [Topic authorization failed]"),
  },
  {
    from: "dead-letter producer", error: "UNKNOWN_TOPIC_OR_PARTITION after KafkaJS's retries", action: "stop",
    then: "create KAFKA_DLQ_TOPIC (or set it to a topic that exists)", matches: kafkaTypes("UNKNOWN_TOPIC_OR_PARTITION"),
    example: () => new KafkaJSNumberOfRetriesExceeded(kafkaError("UNKNOWN_TOPIC_OR_PARTITION", 3, "This server does not host this topic-partition", true) as unknown as Error, { retryCount: 5, retryTime: 5000 } as never),
  },
  {
    from: "dead-letter producer", error: "INVALID_RECORD, POLICY_VIOLATION, INVALID_REQUIRED_ACKS, UNSUPPORTED_*", action: "stop",
    then: "the topic's settings refuse dead letters (a compacted topic needs keys; acks=all must be allowed): fix the topic",
    matches: topicRefuses("INVALID_RECORD", "POLICY_VIOLATION", "INVALID_REQUIRED_ACKS"),
    example: () => kafkaError("INVALID_RECORD", 87, "This record has failed the validation on broker and hence will be rejected"),
  },
  saslStop("dead-letter producer"),
  {
    from: "dead-letter producer", error: "NOT_ENOUGH_REPLICAS, leader moving, request timed out, connection lost", action: "wait",
    then: "retried with backoff; the partition waits (the source offset is committed only after the dead letter is acknowledged)",
    matches: () => true, example: () => new KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092"),
  },
  // The Kafka consumer (its crashes and its offset commits)
  {
    from: "kafka consumer", error: "GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED", action: "stop",
    then: "grant the consumer's principal READ on KAFKA_TOPIC and on the group KAFKA_GROUP_ID",
    matches: kafkaTypes("GROUP_AUTHORIZATION_FAILED", "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"),
    example: () => kafkaError("GROUP_AUTHORIZATION_FAILED", 30, "Not authorized to access group: Group authorization failed"),
  },
  saslStop("kafka consumer"),
  {
    from: "kafka consumer", error: "a codec or protocol feature KafkaJS lacks (KafkaJSNotImplemented)", action: "stop",
    then: "the topic is written with something this build cannot read: report it with this line",
    matches: (e) => e instanceof KafkaJSNotImplemented,
    example: () => withMessage(KafkaJSNotImplemented, "Compression type 9 not implemented"),
  },
  {
    from: "kafka consumer", error: "broker or coordinator away, rebalance, request timed out, commit failed", action: "wait",
    then: "the consumer is started again with backoff (1 s doubling to 30 s), commits are retried; /readyz is 503 meanwhile",
    matches: () => true, example: () => new KafkaJSRequestTimeoutError("Request Fetch(key: 1, version: 11) timed out"),
  },
  // The collector's producer (events collect): a request is answered 202 only once Kafka acknowledged its events
  {
    from: "collector producer", error: "TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED", action: "stop",
    then: "grant the collector's principal WRITE on KAFKA_TOPIC (and IDEMPOTENT_WRITE on the cluster, before Kafka 3.0)",
    matches: kafkaTypes("TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"),
    example: () => kafkaError("CLUSTER_AUTHORIZATION_FAILED", 31, "Cluster authorization failed"),
  },
  {
    from: "collector producer", error: "MESSAGE_TOO_LARGE, INVALID_RECORD, POLICY_VIOLATION, UNSUPPORTED_*", action: "stop",
    then: "the topic refuses the collector's batches (max.message.bytes under 1 MiB, or compaction without keys): fix the topic",
    matches: topicRefuses("MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "POLICY_VIOLATION"),
    example: () => kafkaError("MESSAGE_TOO_LARGE", 10, "The request included a message larger than the max message size the server will accept"),
  },
  saslStop("collector producer"),
  {
    from: "collector producer", error: "broker away, NOT_ENOUGH_REPLICAS, leader moving, no acknowledgement in COLLECT_ACK_TIMEOUT", action: "wait",
    then: "the request is answered 503 with Retry-After (the client sends it again); /readyz is 503 while a send waits",
    matches: () => true, example: () => new KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092"),
  },
  // The schema registry (SCHEMA_REGISTRY_URL: writer schemas of Confluent-framed records)
  {
    from: "schema registry", error: "schema id not found (HTTP 404, error_code 40403)", action: "reject",
    then: "its records are dead-lettered as `unknown_schema`",
    matches: (e) => e instanceof RegistryError && e.status === 404 && e.errorCode === 40403,
    example: () => new RegistryError(404, 40403, "GET /schemas/ids/999: HTTP 404 (error_code 40403): No content with id/hash 'contentId-999' was found"),
  },
  {
    from: "schema registry", error: "credentials refused (HTTP 401, 403)", action: "stop",
    then: "check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD",
    matches: (e) => e instanceof RegistryError && (e.status === 401 || e.status === 403),
    example: () => new RegistryError(401, undefined, "GET /subjects: HTTP 401: Unauthorized"),
  },
  {
    from: "schema registry", error: "unreachable, timed out, HTTP 5xx or 429", action: "wait",
    then: "retried with backoff; the partition waits, nothing is dead-lettered for it",
    matches: (e) => !(e instanceof RegistryError) || e.status >= 500 || e.status === 429,
    example: () => Object.assign(new Error("Unable to connect. Is the computer able to access the url?"), { code: "ConnectionRefused" }),
  },
  {
    from: "schema registry", error: "any other answer (another 4xx, not JSON)", action: "stop",
    then: "SCHEMA_REGISTRY_URL is not a Confluent-compatible API: set it to one (Apicurio: http://<host>:<port>/apis/ccompat/v7)",
    matches: () => true, example: () => new RegistryError(404, undefined, "GET /subjects: HTTP 404, not JSON: <html>"),
  },
];

export interface Verdict {
  action: Action;
  rule: Rule;
  /** For stop: the one line to exit with. */
  line: string;
}

/** What to do about an error met by `from`. */
export function classify(from: Origin, err: unknown): Verdict {
  const rule = POLICY.find((r) => r.from === from && r.matches(err));
  if (!rule) throw new Error(`no failure policy for ${from}`); // cannot happen: each origin ends in a catch-all
  const line = `${from}: ${describe(err)}: ${rule.then}`;
  return { action: rule.action, rule, line };
}

/** Throws a Stop when the policy says stop; otherwise says wait or reject. */
export function decide(from: Origin, err: unknown): "wait" | "reject" {
  const v = classify(from, err);
  if (v.action === "stop") throw new Stop(v.line);
  return v.action;
}

function describe(err: unknown): string {
  if (err instanceof NoHostAvailableError) {
    return hostErrors(err) || err.message;
  }
  if (err instanceof KafkaJSNumberOfRetriesExceeded && err.cause) return msg(err.cause);
  return msg(err);
}

/** The table as Markdown, for the README (a unit test checks the README holds exactly this). */
export function policyTable(): string {
  const rows = POLICY.map((r) => `| ${r.from} | ${r.error} | **${r.action}** | ${r.then} |`);
  return ["| from | error | action | then |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
