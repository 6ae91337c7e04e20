/**
 * Every setting of `events`, in one table: environment variable, flag, default, parser, help, and which
 * commands use it. A flag wins over its variable. A bad value throws ConfigError, which main.ts turns
 * into one line on stderr and exit code 2.
 */
import { parseArgs } from "node:util";
import { bool, duration, windowLength, fraction, hostPorts, instant, number, offsetRanges, oneOf, optionalText, parseSize, replication, size, statusAddr, text } from "./values.ts";
export { parseDuration, parseSize, type OffsetRange } from "./values.ts";

export type Command = "consume" | "simulate" | "migrate" | "redrive" | "collect";

export class ConfigError extends Error {}

interface Setting<T> {
  env: string;
  flag: string;
  default: string;
  allowed: string;
  help: string;
  for: readonly Command[];
  /** Never logged or echoed back in an error. */
  secret?: boolean;
  /** A flag that takes no value (`--dry-run`): present means "true". */
  switch?: boolean;
  /** A command whose default differs from `default` (collect compresses what it produces by default). */
  defaultFor?: Partial<Record<Command, string>>;
  parse(raw: string): T;
}

// ---- the table -----------------------------------------------------------------------------------

const ALL: readonly Command[] = ["consume", "simulate", "migrate", "redrive", "collect"];
const KAFKA: readonly Command[] = ["consume", "simulate", "redrive", "collect"];
const CASSANDRA: readonly Command[] = ["consume", "migrate"];
const CONSUME: readonly Command[] = ["consume"];
const SIMULATE: readonly Command[] = ["simulate"];
const REDRIVE: readonly Command[] = ["redrive"];
const RUNNING: readonly Command[] = ["consume", "simulate", "collect"];
const COLLECT: readonly Command[] = ["collect"];
/** Where events are produced and the registry may be asked for our schema's id. */
const PRODUCING: readonly Command[] = ["consume", "simulate", "collect"];

function s<T>(env: string, flag: string, def: string, p: { parse(raw: string): T; allowed: string }, help: string,
  use: readonly Command[], secret = false): Setting<T> {
  return { env, flag, default: def, allowed: p.allowed, parse: p.parse.bind(p), help, for: use, secret };
}

export const SETTINGS = {
  brokers: s("KAFKA_BROKERS", "brokers", "127.0.0.1:9092", hostPorts, "comma-separated bootstrap brokers", KAFKA),
  topic: s("KAFKA_TOPIC", "topic", "user-events", text(), "source topic (simulate: destination)", KAFKA),
  groupId: s("KAFKA_GROUP_ID", "group-id", "events-consumer", text(), "consumer group; consumers of one group share the partitions", CONSUME),
  dlqTopic: s("KAFKA_DLQ_TOPIC", "dlq-topic", "user-events.dlq", text(), "dead-letter topic", ["consume", "redrive"]),
  kafkaSsl: s("KAFKA_SSL", "kafka-ssl", "false", bool, "TLS to the brokers", KAFKA),
  saslMechanism: s("KAFKA_SASL_MECHANISM", "kafka-sasl-mechanism", "", {
    allowed: "plain | scram-sha-256 | scram-sha-512 (empty: off)",
    parse: (raw: string) => (raw.trim() === "" ? null : oneOf("plain", "scram-sha-256", "scram-sha-512").parse(raw)),
  }, "SASL mechanism", KAFKA),
  saslUsername: s("KAFKA_SASL_USERNAME", "kafka-sasl-username", "", optionalText, "SASL user", KAFKA),
  saslPassword: s("KAFKA_SASL_PASSWORD", "kafka-sasl-password", "", optionalText, "SASL password", KAFKA, true),
  compression: { ...s("KAFKA_COMPRESSION", "compression", "none", oneOf("none", "gzip", "snappy", "lz4", "zstd"),
    "codec for what this process produces (simulate's and collect's events, consume's dead letters, redrive's re-sends); every codec is always readable", KAFKA),
  defaultFor: { collect: "lz4" } },
  format: s("EVENT_FORMAT", "format", "auto", oneOf("auto", "avro", "confluent", "json"),
    "consume: how values are decoded (auto tells the three apart); simulate: what it writes (auto = avro); collect: the same (auto = confluent with SCHEMA_REGISTRY_URL, else avro)", KAFKA),
  registryUrl: s("SCHEMA_REGISTRY_URL", "schema-registry-url", "", {
    allowed: "an http(s) URL of a Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (empty: off)",
    parse(raw: string) {
      const v = raw.trim();
      if (v && !/^https?:\/\/[^/\s@]+(\/\S*)?$/.test(v)) throw new Error(this.allowed);
      return v;
    },
  }, "consume: read Confluent-framed records with the writer schema their id names; simulate, collect --format confluent: register ours", PRODUCING),
  registryUsername: s("SCHEMA_REGISTRY_USERNAME", "schema-registry-username", "", optionalText, "registry user (HTTP basic)", PRODUCING),
  registryPassword: s("SCHEMA_REGISTRY_PASSWORD", "schema-registry-password", "", optionalText, "registry password", PRODUCING, true),
  contactPoints: s("CASSANDRA_CONTACT_POINTS", "contact-points", "127.0.0.1:9042", hostPorts, "comma-separated Cassandra nodes", CASSANDRA),
  localDc: s("CASSANDRA_LOCAL_DC", "local-dc", "datacenter1", text(), "the driver's local data centre", CASSANDRA),
  keyspace: s("CASSANDRA_KEYSPACE", "keyspace", "event_streaming", {
    allowed: "a CQL identifier: a letter, then letters, digits or _ (at most 48)",
    parse(raw: string) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(raw.trim())) throw new Error(this.allowed);
      return raw.trim();
    },
  }, "keyspace", CASSANDRA),
  replication: s("CASSANDRA_REPLICATION", "replication", "SimpleStrategy:1", replication,
    "keyspace replication for migrate (production: NetworkTopologyStrategy:dc1=3)", ["migrate"]),
  cassandraUsername: s("CASSANDRA_USERNAME", "cassandra-username", "", optionalText, "Cassandra user", CASSANDRA),
  cassandraPassword: s("CASSANDRA_PASSWORD", "cassandra-password", "", optionalText, "Cassandra password", CASSANDRA, true),
  cassandraTls: s("CASSANDRA_TLS", "cassandra-tls", "false", bool, "TLS to Cassandra", CASSANDRA),
  outOfOrderness: s("WATERMARK_OUT_OF_ORDERNESS", "out-of-orderness", "2m", duration, "bounded out-of-orderness of the watermark", CONSUME),
  idleTimeout: s("WATERMARK_IDLE_TIMEOUT", "idle-timeout", "30s", duration, "a partition silent this long stops holding the watermark back", CONSUME),
  maxFuture: s("EVENT_TIME_MAX_FUTURE", "max-future", "24h", duration,
    "an event_time further ahead of the clock than this is invalid_event_time (clocks drift; further is a bug upstream)", ["consume", "collect"]),
  bucket: s("BUCKET", "bucket", "day", oneOf("day", "hour"),
    "how a user's events are partitioned: day (user_events, the seed's table) or hour (user_events_by_hour)", CASSANDRA),
  windows: s("WINDOWS", "windows", "on", oneOf("on", "off"), "tumbling event-time windows: counts per window and type, in event_windows", CONSUME),
  windowSize: s("WINDOW_SIZE", "window-size", "1m", windowLength, "the windows' length (epoch-aligned, UTC)", CONSUME),
  windowLateness: s("WINDOW_ALLOWED_LATENESS", "window-allowed-lateness", "0", duration,
    "how long after the watermark passes a window's end a late event still updates it", CONSUME),
  lateEvents: s("LATE_EVENTS", "late-events", "store", oneOf("store", "dlq", "drop"), "what happens to late events (all are counted)", CONSUME),
  maxInFlight: s("MAX_IN_FLIGHT", "max-in-flight", "3000", number(1, 1_000_000), "records decoded but not yet committed; bounds memory", CONSUME),
  sessionTimeout: s("KAFKA_SESSION_TIMEOUT", "session-timeout", "10s", duration,
    "a consumer silent this long (crashed) loses its partitions to the rest of the group", CONSUME),
  commitInterval: s("KAFKA_COMMIT_INTERVAL", "commit-interval", "1s", duration,
    "how often offsets of written records are committed (a crash replays at most this much more)", CONSUME),
  fetchMaxBytes: s("KAFKA_FETCH_MAX_BYTES", "fetch-max-bytes", "512KiB", size,
    "most one fetch brings (split over the partitions); with MAX_IN_FLIGHT it bounds memory", CONSUME),
  fetchMinBytes: s("KAFKA_FETCH_MIN_BYTES", "fetch-min-bytes", "1", {
    allowed: "a size like 1, 16KiB, 64KiB (at most 16MiB)",
    parse(raw: string): number {
      const n = parseSize(raw);
      if (!(n >= 1 && n <= 16 * 1024 ** 2)) throw new Error(this.allowed);
      return n;
    },
  }, "a fetch waits for this much (or KAFKA_FETCH_MAX_WAIT): under a steady load, fuller chunks and batches for a few ms of latency", CONSUME),
  fetchMaxWait: s("KAFKA_FETCH_MAX_WAIT", "fetch-max-wait", "100ms", duration, "the longest a fetch waits for KAFKA_FETCH_MIN_BYTES", CONSUME),
  partitionsConcurrently: s("KAFKA_PARTITIONS_CONCURRENTLY", "partitions-concurrently", "3", number(1, 1024),
    "partitions processed at once by one consumer", CONSUME),
  writeConcurrency: s("SINK_CONCURRENCY", "sink-concurrency", "64", number(1, 4096), "concurrent Cassandra requests (batches or single rows)", CONSUME),
  consistency: s("CASSANDRA_CONSISTENCY", "consistency", "local_quorum", oneOf("local_quorum", "quorum", "each_quorum", "all", "local_one", "one", "two", "three"),
    "consistency level of the writes (local_quorum: a majority of the local data centre's replicas)", CONSUME),
  sinkWrite: s("SINK_WRITE", "sink-write", "append", oneOf("append", "insert"),
    "append: the row's key by INSERT and its metadata appended (metadata = metadata + ?), no tombstone; insert: the seed's INSERT, which writes a range tombstone before every map", CONSUME),
  eventTtl: s("EVENT_TTL", "event-ttl", "0", duration,
    "consume: rows written USING TTL (whole seconds); migrate: the table's default_time_to_live (0: rows never expire)", CASSANDRA),
  batchRows: s("SINK_BATCH_ROWS", "batch-rows", "32", number(1, 1000),
    "rows per unlogged batch, grouped by replica (1: no batches)", CONSUME),
  stallTimeout: s("STALL_TIMEOUT", "stall-timeout", "60s", duration,
    "a partition with records waiting and no chunk done for this long is reported: /readyz 503, a gauge, a log line a minute", CONSUME),
  exitWhenIdle: s("EXIT_WHEN_IDLE", "exit-when-idle", "0", duration,
    "exit 0 once caught up and nothing new came for this long (0: run until signalled)", CONSUME),
  statusAddr: s("STATUS_ADDR", "status-addr", "127.0.0.1:9464", statusAddr, "status server address, or off", RUNNING),
  statusToken: s("STATUS_TOKEN", "status-token", "", optionalText, "bearer token for all but /healthz and /readyz", RUNNING, true),
  logLevel: s("LOG_LEVEL", "log-level", "info", oneOf("trace", "debug", "info", "warn", "error", "fatal", "silent"), "JSON log lines on stdout", ALL),
  rate: s("SIMULATE_RATE", "rate", "100", number(0, 10_000_000), "events per second (0: as fast as possible)", SIMULATE),
  count: s("SIMULATE_COUNT", "count", "0", number(0, Number.MAX_SAFE_INTEGER), "stop after this many events (0: no limit)", SIMULATE),
  duration: s("SIMULATE_DURATION", "duration", "0", duration, "stop after this long (0: no limit)", SIMULATE),
  users: s("SIMULATE_USERS", "users", "1000", number(1, 10_000_000), "distinct simulated users", SIMULATE),
  seed: s("SIMULATE_SEED", "seed", "", {
    allowed: "an integer (empty: random)",
    parse: (raw: string) => (raw.trim() === "" ? null : number(0, 2 ** 32 - 1).parse(raw)),
  }, "random seed: the same seed gives the same events", SIMULATE),
  start: s("SIMULATE_START", "start", "now", {
    allowed: "now, or an ISO-8601 instant like 2026-11-22T00:00:00Z",
    parse(raw: string): number | null {
      if (raw.trim().toLowerCase() === "now") return null;
      const t = Date.parse(raw.trim());
      if (!/^\d{4}-\d{2}-\d{2}T/.test(raw.trim()) || Number.isNaN(t)) throw new Error(this.allowed);
      return t;
    },
  }, "event time of the first event (now; with --seed: 2026-01-01T00:00:00Z, so that runs are byte-identical)", SIMULATE),
  outOfOrder: s("SIMULATE_OUT_OF_ORDER", "out-of-order", "0", duration, "max jitter of event_time behind the wall clock", SIMULATE),
  lateFraction: s("SIMULATE_LATE_FRACTION", "late-fraction", "0", fraction, "fraction of events sent deliberately late", SIMULATE),
  lateBy: s("SIMULATE_LATE_BY", "late-by", "3m", duration, "how far behind the clock late events are", SIMULATE),
  invalidFraction: s("SIMULATE_INVALID_FRACTION", "invalid-fraction", "0", fraction, "fraction of malformed records", SIMULATE),
  // collect (src/collect/collect.ts)
  collectAddr: s("COLLECT_ADDR", "collect-addr", "127.0.0.1:8080", {
    allowed: "host:port (0.0.0.0:8080 for every interface)",
    parse(raw: string) {
      const a = statusAddr.parse(raw);
      if (!a) throw new Error(this.allowed);
      return a;
    },
  }, "where the collector takes events over HTTP (POST /v1/events, /v1/tracker.js)", COLLECT),
  allowedOrigins: s("COLLECT_ALLOWED_ORIGINS", "allowed-origins", "", {
    allowed: "comma-separated origins like https://shop.example, or * (empty: same origin only)",
    parse(raw: string): string[] {
      const list = raw.split(",").map((o) => o.trim().replace(/\/$/, "")).filter(Boolean);
      for (const o of list) if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw new Error(this.allowed);
      return list;
    },
  }, "origins whose pages may send events (CORS); a request from any other Origin is refused with 403", COLLECT),
  writeKey: s("COLLECT_WRITE_KEY", "write-key", "", optionalText,
    "a key every request must carry (header X-Write-Key, or ?key= for beacons); empty: none", COLLECT, true),
  recordIp: s("COLLECT_RECORD_IP", "record-ip", "false", bool, "store the client's IP address in metadata.client_ip", COLLECT),
  trustProxy: s("COLLECT_TRUST_PROXY", "trust-proxy", "false", bool,
    "behind a load balancer: the client's address is the first of X-Forwarded-For", COLLECT),
  ackTimeout: s("COLLECT_ACK_TIMEOUT", "ack-timeout", "5s", duration,
    "a request whose events Kafka has not acknowledged within this is answered 503 with Retry-After", COLLECT),
  demoShop: s("COLLECT_DEMO_SHOP", "demo-shop", "false", bool, "serve the demo's shop page at /demo/shop (bun run demo turns it on)", COLLECT),
  // redrive (src/redrive/redrive.ts)
  reasons: s("REDRIVE_REASON", "reason", "", {
    allowed: "comma-separated dlq.reason values, e.g. invalid_event_time,late (empty: every reason)",
    parse: (raw: string) => raw.split(",").map((r) => r.trim()).filter(Boolean),
  }, "redrive only dead letters with one of these reasons", REDRIVE),
  since: s("REDRIVE_SINCE", "since", "", instant, "redrive only dead letters dead-lettered at or after this instant (dlq.time)", REDRIVE),
  until: s("REDRIVE_UNTIL", "until", "", instant, "redrive only dead letters dead-lettered before this instant (dlq.time)", REDRIVE),
  sourceOffsets: s("REDRIVE_SOURCE_OFFSETS", "source-offsets", "", offsetRanges,
    "redrive only dead letters from these source offsets: <partition>:<first>-<last>, comma-separated (inclusive)", REDRIVE),
  maxRedrives: s("REDRIVE_MAX", "max-redrives", "1", number(1, 100),
    "a record redriven this many times that is dead-lettered again is refused (the loop guard, header dlq.redriven)", REDRIVE),
  dryRun: { ...s("REDRIVE_DRY_RUN", "dry-run", "false", bool, "print what would be sent (one JSON line each) and send nothing", REDRIVE), switch: true },
} as const;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]["parse"]> };
export type SettingName = keyof Settings;

/** Read the settings of one command from env and argv; throws ConfigError naming the first bad one. */
export function loadConfig(command: Command, argv: string[], env: Record<string, string | undefined> = process.env): Config {
  const mine = (Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]).filter(([, st]) => st.for.includes(command));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(mine.map(([, st]) => [st.flag, { type: st.switch ? "boolean" as const : "string" as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new ConfigError(`${(e as Error).message.split("\n")[0]}; see events ${command} --help`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, st] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    const fromFlag = values[st.flag] === true ? "true" : values[st.flag];
    const def = st.defaultFor?.[command] ?? st.default;
    const raw = typeof fromFlag === "string" ? fromFlag : (env[st.env] ?? def);
    const source = typeof fromFlag === "string" ? `--${st.flag}` : env[st.env] !== undefined ? st.env : `default of ${st.env}`;
    try {
      out[name] = st.parse(raw);
    } catch {
      // Settings of other commands are parsed from their defaults only when unset; a bad env value
      // for another command is not this command's business.
      if (!st.for.includes(command)) { out[name] = st.parse(def); continue; }
      const shown = st.secret ? "***" : JSON.stringify(raw);
      throw new ConfigError(`invalid ${source === st.env ? st.env : `${source} (${st.env})`}: ${shown}; allowed: ${st.allowed}`);
    }
  }
  return out as Config;
}

/** The effective settings of a command for the start-up log line, secrets replaced. */
export function redacted(config: Config, command: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, st] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    if (!st.for.includes(command)) continue;
    const v = config[name];
    out[st.env] = st.secret ? (v ? "***" : "") : v;
  }
  return out;
}

/** Usage lines of a command's settings: flag, env, default, allowed values. */
export function settingsHelp(command: Command): string {
  const rows = Object.values(SETTINGS as Record<string, Setting<unknown>>).filter((st) => st.for.includes(command));
  return rows
    .map((st) => `  --${st.flag}${st.switch ? "" : " <v>"}`.padEnd(30) + `${st.env}`.padEnd(28) + `default: ${(st.defaultFor?.[command] ?? st.default) || "(unset)"}\n` +
      " ".repeat(30) + `${st.help}; ${st.allowed}`)
    .join("\n");
}
