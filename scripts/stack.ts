#!/usr/bin/env bun
/**
 * The local stack: one real Apache Kafka (KRaft, broker + controller), one real Apache Cassandra and an
 * Apicurio schema registry (the Confluent API on 127.0.0.1:8081), resolved from Maven Central with `mvn`
 * (poms under stack/), run on this machine's JDK, on loopback.
 *
 *   bun run stack up      resolve (first time), start what is not running, wait until all answer, create topics
 *                         and Kafka's SCRAM user; --auth: also an authenticated Cassandra on 127.0.0.4
 *   bun run stack down    stop only the processes this script started (recorded pids)
 *   bun run stack status  what runs and whether it answers
 *   bun run stack reset   down, then delete data and logs (jars are kept)
 *
 * Everything lives under .stack/ (git-ignored): jars/, kafka/, cassandra/, registry/, logs/, run/*.pid.
 * EVENTS_STACK_DIR moves it; STACK_TIMEOUT (seconds, default 240) bounds each wait.
 */
import { dlopen, FFIType } from "bun:ffi";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import cassandra from "cassandra-driver";

const ROOT = resolve(import.meta.dir, "..");
const DIR = resolve(process.env.EVENTS_STACK_DIR ?? join(ROOT, ".stack"));
const TIMEOUT_MS = Number(process.env.STACK_TIMEOUT ?? 240) * 1000;
const TOPICS = [
  { topic: process.env.KAFKA_TOPIC ?? "user-events", numPartitions: 3 },
  { topic: process.env.KAFKA_DLQ_TOPIC ?? "user-events.dlq", numPartitions: 3 },
];

interface Service {
  name: "kafka" | "cassandra" | "registry" | "cassandra-auth" | `kafka-${1 | 2 | 3}` | `cassandra-${1 | 2 | 3}`;
  /** Where it listens for clients (127.0.0.1 unless said). */
  host?: string;
  port: number;
  /** Whose pom resolves its jars and whose jvm.options it starts from (its own name unless said). */
  jarsOf?: string;
  /** JVM options replacing those of the same flag in jvm.options (e.g. a smaller heap). */
  jvmOverrides?: string[];
  /** Prepare config and data (once), return the java arguments after the JVM options. */
  prepare(jars: string): string[];
  /** Resolves when the service answers a real request; throws otherwise. */
  probe(): Promise<void>;
  /** Linux timer slack for every thread of the JVM (see timerSlack below); the kernel's default if unset. */
  timerSlackNs?: number;
}

const paths = {
  jars: (s: string) => join(DIR, "jars", s),
  home: (s: string) => join(DIR, s),
  log: (s: string) => join(DIR, "logs", `${s}.log`),
  out: (s: string) => join(DIR, "logs", `${s}.out`),
  pid: (s: string) => join(DIR, "run", `${s}.pid`),
};

const say = (msg: string) => console.log(`stack: ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fill(template: string, data: string): string {
  return readFileSync(join(ROOT, "stack", template), "utf8").replaceAll("@DATA@", data);
}

function jvmOptions(svc: Service): string[] {
  // An option's identity, for replacing it: -XX options by name (-XX:+UseG1GC and -XX:-UseG1GC are one), -Xms/-Xmx/-Xmn,
  // the GC log, the JMX port and the ring delay by prefix, anything else as written.
  const flag = (o: string) => {
    const xx = /^-XX:[+-]?(\w+)/.exec(o);
    return xx ? `-XX:${xx[1]}` : /^(-Xm[sxn]|-Xlog:gc|-Dcassandra\.(jmx\.local\.port|ring_delay_ms)=)/.exec(o)?.[0] ?? o;
  };
  // STACK_CASSANDRA_JVM="-XX:Flag=v !-XX:+Other" (Cassandra only): JVM options added or replaced, and with "!" removed,
  // for this start (the bench's server-side A/B).
  const extra = svc.jarsOf === "cassandra" ? (process.env.STACK_CASSANDRA_JVM ?? "").split(/\s+/).filter(Boolean) : [];
  const removed = new Set(extra.filter((o) => o.startsWith("!")).map((o) => flag(o.slice(1))));
  const added = [...(svc.jvmOverrides ?? []), ...extra.filter((o) => !o.startsWith("!"))];
  const overridden = new Set(added.map(flag));
  return readFileSync(join(ROOT, "stack", svc.jarsOf ?? svc.name, "jvm.options"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && !overridden.has(flag(l)) && !removed.has(flag(l)))
    .concat(added);
}

/**
 * cassandra.yaml with `spec`'s settings ("key=value;key=value", from STACK_CASSANDRA_CONF: the bench's server-side
 * A/B, e.g. memtable_allocation_type=heap_buffers) replacing top-level keys of the same name, or added.
 */
function withSettings(config: string, spec: string): string {
  for (const kv of spec.split(";").filter(Boolean)) {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new Error(`STACK_CASSANDRA_CONF takes key=value;…, got "${kv}"`);
    const [key, value] = [kv.slice(0, eq).trim(), kv.slice(eq + 1).trim()];
    const line = new RegExp(`^${key}:.*$`, "m");
    config = line.test(config) ? config.replace(line, `${key}: ${value}`) : `${config}${key}: ${value}\n`;
  }
  return config;
}

/** A Kafka node (broker and controller, KRaft). `cluster`: node i of three on ports 9092/9192/9292. */
function kafkaNode(name: Service["name"], id: number, cluster: boolean): Service {
  const base = 9092 + (id - 1) * 100; // client; controller base+1, SASL base+2
  return {
    name,
    port: base,
    jarsOf: "kafka",
    prepare(jars) {
      const home = paths.home(name);
      const data = join(home, "data");
      mkdirSync(data, { recursive: true });
      const props = join(home, "server.properties");
      let config = fill("kafka/server.properties", data)
        .replaceAll("127.0.0.1:9092", `127.0.0.1:${base}`).replaceAll("127.0.0.1:9093", `127.0.0.1:${base + 1}`)
        .replaceAll("127.0.0.1:9094", `127.0.0.1:${base + 2}`).replace(/^node\.id=.*$/m, `node.id=${id}`);
      if (cluster) {
        // Three voters known up front (a static quorum), replication 3 with two in sync for every topic.
        config = config
          .replace(/^controller\.quorum\.bootstrap\.servers=.*$/m, `controller.quorum.voters=${[1, 2, 3].map((i) => `${i}@127.0.0.1:${9093 + (i - 1) * 100}`).join(",")}`)
          .replace(/^(offsets\.topic|transaction\.state\.log|share\.coordinator\.state\.topic)\.replication\.factor=.*$/gm, "$1.replication.factor=3")
          .replace(/^(transaction\.state\.log|share\.coordinator\.state\.topic)\.min\.isr=.*$/gm, "$1.min.isr=2")
          .concat("default.replication.factor=3\nmin.insync.replicas=2\n");
      }
      writeFileSync(props, config);
      // KRaft needs its log directory formatted once, with a cluster id, before the first start.
      if (!existsSync(join(data, "meta.properties"))) {
        const r = spawnSync("java", ["-cp", `${jars}/*`, "kafka.tools.StorageTool", "format",
          ...(cluster ? [] : ["--standalone"]), "-t", kafkaClusterId(cluster), "-c", props], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`formatting Kafka storage failed:\n${r.stdout}${r.stderr}`);
      }
      return [
        `-Dlog4j2.configurationFile=${join(ROOT, "stack/kafka/log4j2.xml")}`,
        `-Dkafka.logs.file=${paths.log(name)}`,
        `-Dkafka.logs.dir=${join(DIR, "logs")}`,
        "-cp", `${jars}/*`, "kafka.Kafka", props,
      ];
    },
    async probe() {
      const admin = new Kafka({ brokers: [`127.0.0.1:${base}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
      try {
        await admin.connect();
        await admin.describeCluster();
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
  };
}

/**
 * A KRaft cluster id: 16 bytes in base64url, as Kafka's own; one that starts with "-" is drawn again (about 1
 * in 64), since the tool's argument parser takes it for an option (a fresh-clone CI run failed so). The three
 * nodes of the cluster share one, kept in .stack/.
 */
function kafkaClusterId(cluster: boolean): string {
  const draw = () => {
    let id = randomBytes(16).toString("base64url");
    while (id.startsWith("-")) id = randomBytes(16).toString("base64url");
    return id;
  };
  if (!cluster) return draw();
  const file = join(DIR, "kafka-cluster.id");
  if (!existsSync(file)) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(file, draw());
  }
  return readFileSync(file, "utf8").trim();
}

const kafka = kafkaNode("kafka", 1, false);

/**
 * A Cassandra node on `address`:9042, its data and config under .stack/<name>/: a ring of its own, or with
 * `cluster` one of three on 127.0.0.1-3 (seed 127.0.0.1). With `auth`, as a production cluster runs:
 * PasswordAuthenticator, CassandraAuthorizer, CassandraRoleManager.
 */
function cassandraNode(name: Service["name"], address: string, { auth = false, cluster = false } = {}): Service {
  return {
    name,
    host: address,
    port: 9042,
    jarsOf: "cassandra",
    // The node for the security tests (--auth) and the ring's three (--cluster): smaller heaps, GC logs of their own.
    jvmOverrides: auth || cluster
      ? [...(auth ? ["-Xms512M", "-Xmx512M", "-Xmn128M"] : ["-Xms768M", "-Xmx768M", "-Xmn192M"]),
        `-Xlog:gc=info:file=../logs/gc-${name}.log:time,uptime:filecount=2,filesize=16M`, `-Dcassandra.jmx.local.port=${jmxPort(address)}`,
        // A joining node's gossip shadow round gives up after twice the ring delay, in 1 s tries: at jvm.options'
        // 100 ms (for single nodes) that is one try, and on a slow machine node 3 once failed it ("Unable to gossip
        // with any peers") while the seed was still busy with node 2. 5 s gives it ten tries.
        ...(cluster ? ["-Dcassandra.ring_delay_ms=5000"] : [])]
      : [],
    // Cassandra's request threads (its shared executor pool) wait for work by parking 10 µs at a time for as
    // long as requests keep arriving, so under a steady, partial load they wake tens of thousands of times a
    // second: at 1,000 events/s it used 0.30 of a core, at 24,000/s 34 CPU s per million events, against 25 in
    // a saturated drain. With 1 ms of slack the kernel lets those wake-ups coalesce: 0.09 core and 24-26 s
    // per million, latency unchanged (measured in README, "Where the time goes"). Kafka's broker: no effect.
    timerSlackNs: 1_000_000,
    prepare(jars) {
      const home = paths.home(name);
      const data = join(home, "data");
      mkdirSync(data, { recursive: true });
      const yaml = join(home, "cassandra.yaml");
      let config = fill("cassandra/cassandra.yaml", data).replaceAll("127.0.0.1", address);
      if (cluster) {
        // A new ring: nodes 2 and 3 join at once with random tokens, nothing to stream (auto_bootstrap false).
        config = config
          .replace(/^cluster_name: .*$/m, "cluster_name: events-local-cluster")
          .replace(/- seeds: ".*"/, '- seeds: "127.0.0.1:7000"')
          .concat(address === "127.0.0.1" ? "" : "auto_bootstrap: false\n");
      }
      if (auth) {
        config = config
          .replace(/^cluster_name: .*$/m, "cluster_name: events-local-auth")
          .replace(/^authenticator: .*$/m, "authenticator: PasswordAuthenticator")
          .replace(/^authorizer: .*$/m, "authorizer: CassandraAuthorizer")
          .concat("role_manager: CassandraRoleManager\n");
      }
      writeFileSync(yaml, withSettings(config, process.env.STACK_CASSANDRA_CONF ?? ""));
      const jamm = readdirSync(jars).find((f) => f.startsWith("jamm-"));
      return [
        // jamm measures memtable sizes; Cassandra expects it as an agent.
        ...(jamm ? [`-javaagent:${join(jars, jamm)}`] : []),
        `-Dcassandra.config=file://${yaml}`,
        `-Dcassandra.storagedir=${data}`,
        `-Dcassandra.logdir=${join(DIR, "logs")}`,
        `-Dcassandra.logfile=${paths.log(name)}`,
        `-Dlogback.configurationFile=${join(ROOT, "stack/cassandra/logback.xml")}`,
        "-cp", `${jars}/*`, "org.apache.cassandra.service.CassandraDaemon",
      ];
    },
    async probe() {
      if (auth) return void (await (await authClient(address)).shutdown());
      const client = new cassandra.Client({
        contactPoints: [`${address}:9042`], localDataCenter: "datacenter1",
        socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
      });
      try {
        await client.execute("SELECT release_version FROM system.local");
      } finally {
        await client.shutdown().catch(() => {});
      }
    },
  };
}

/** Each node's JMX port (nodetool -p), on 127.0.0.1: 7199 for 127.0.0.1, 7299 for .2, and so on. */
export const jmxPort = (address: string) => 7099 + 100 * Number(address.split(".")[3]);

/** `nodetool <args>` against the node at `address`, with the stack's Cassandra jars. */
export function nodetool(address: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cassandraTool("org.apache.cassandra.tools.NodeTool", "-h", "127.0.0.1", "-p", String(jmxPort(address)), ...args);
}

/** One of Cassandra's tools (nodetool, sstabledump, …) by class, with the module flags the daemon runs with. */
export function cassandraTool(mainClass: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const modules = jvmOptions(cassandraSvc).filter((o) => o.startsWith("--add-"));
  return spawnSync("java", [...modules, `-Dlogback.configurationFile=${join(ROOT, "stack/cassandra/tools-logback.xml")}`,
    `-Dcassandra.config=file://${join(paths.home("cassandra"), "cassandra.yaml")}`, "-cp", `${paths.jars("cassandra")}/*`, mainClass, ...args],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
}

const cassandraSvc = cassandraNode("cassandra", "127.0.0.1");
/** `stack up --auth`: a second, authenticated Cassandra for the security tests, on 127.0.0.4:9042 (1-3: the cluster's). */
export const AUTH_CASSANDRA = "127.0.0.4:9042";
const cassandraAuth = cassandraNode("cassandra-auth", "127.0.0.4", { auth: true });

/**
 * The local stack's credentials, generated at the first `stack up` into .stack/secrets.json (mode 600, never
 * printed): Kafka's SCRAM user, and the authenticated Cassandra's superuser and the consumer's role.
 */
export interface StackSecrets {
  kafka: { username: string; password: string };
  cassandraAdmin: { username: string; password: string };
  cassandraConsumer: { username: string; password: string };
}

export function stackSecrets(): StackSecrets {
  const file = join(DIR, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as StackSecrets;
  const pw = () => randomBytes(18).toString("base64url");
  const secrets: StackSecrets = {
    kafka: { username: "events", password: pw() },
    cassandraAdmin: { username: "events_admin", password: pw() },
    cassandraConsumer: { username: "events", password: pw() },
  };
  mkdirSync(DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/**
 * A session as the authenticated node's superuser. The first time, the node has only its default superuser
 * (cassandra/cassandra): ours is created with it, and the default one is then disabled, as on a real cluster.
 */
async function authClient(address: string): Promise<cassandra.Client> {
  const { cassandraAdmin: admin, cassandraConsumer: consumer } = stackSecrets();
  const as = (username: string, password: string) => new cassandra.Client({
    contactPoints: [`${address}:9042`], localDataCenter: "datacenter1", socketOptions: { connectTimeout: 2000, readTimeout: 10_000 },
    authProvider: new cassandra.auth.PlainTextAuthProvider(username, password),
  });
  let client = as(admin.username, admin.password);
  try {
    await client.connect();
  } catch (e) {
    await client.shutdown().catch(() => {});
    const inner = Object.values((e as { innerErrors?: Record<string, unknown> }).innerErrors ?? {});
    if (!inner.some((x) => x instanceof cassandra.errors.AuthenticationError)) throw e;
    const first = as("cassandra", "cassandra");
    await first.connect();
    await first.execute(`CREATE ROLE IF NOT EXISTS ${admin.username} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '${admin.password}'`);
    await first.shutdown();
    client = as(admin.username, admin.password);
    await client.connect();
    await client.execute("ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false");
  }
  await client.execute(`CREATE ROLE IF NOT EXISTS ${consumer.username} WITH LOGIN = true AND PASSWORD = '${consumer.password}'`);
  return client;
}

/**
 * Kafka's SCRAM user, created or updated with Kafka's own ConfigCommand, the password by file (never on a command
 * line). One mechanism per request: in a file, `SCRAM-SHA-256=password=…` is the form it takes (the bracketed form
 * of --add-config is refused there, and two mechanisms in one request are "altered twice").
 */
async function kafkaScramUser(): Promise<void> {
  const { kafka: user } = stackSecrets();
  mkdirSync(join(DIR, "run"), { recursive: true });
  await Promise.all(["SCRAM-SHA-256", "SCRAM-SHA-512"].map(async (mechanism) => {
    const file = join(DIR, "run", `${mechanism}.properties`);
    writeFileSync(file, `${mechanism}=password=${user.password}\n`, { mode: 0o600 });
    try {
      const proc = Bun.spawn(["java", "-cp", `${paths.jars("kafka")}/*`, "kafka.admin.ConfigCommand", "--bootstrap-server", "127.0.0.1:9092",
        "--alter", "--entity-type", "users", "--entity-name", user.username, "--add-config-file", file], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0 || !/Completed updating config/.test(out)) {
        throw new Error(`creating Kafka's SCRAM user (${mechanism}) failed: ${(err || out).trim().split("\n").slice(-3).join(" ").replaceAll(user.password, "***")}`);
      }
    } finally {
      rmSync(file, { force: true });
    }
  }));
}

/** Where the local registry answers the Confluent API (SCHEMA_REGISTRY_URL). */
export const REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7";

const registry: Service = {
  name: "registry",
  port: 8081,
  prepare(jars) {
    // Maven brings the app as a tar.gz (a runner jar and lib/): unpacked once per version.
    const archive = readdirSync(jars).find((f) => f.endsWith(".tar.gz"));
    if (!archive) throw new Error(`no Apicurio archive in ${jars}; delete it and run stack up again`);
    const app = join(paths.home("registry"), archive.replace(/-all\.tar\.gz$/, ""));
    if (!existsSync(join(app, ".unpacked"))) {
      mkdirSync(app, { recursive: true });
      const r = spawnSync("tar", ["xzf", join(jars, archive), "-C", app], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`unpacking ${archive} failed: ${r.stderr}`);
      writeFileSync(join(app, ".unpacked"), archive);
    }
    const runner = readdirSync(app).find((f) => f.endsWith("-runner.jar"));
    if (!runner) throw new Error(`no runner jar in ${app}`);
    return [
      // On loopback (its default is 0.0.0.0:8080; 2.6 serves health on the same port); schemas in memory (H2, its default).
      "-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=8081",
      "-Dquarkus.log.file.enable=true", `-Dquarkus.log.file.path=${paths.log("registry")}`, "-Dquarkus.log.console.enable=false",
      "-jar", join(app, runner),
    ];
  },
  async probe() {
    const ready = await fetch("http://127.0.0.1:8081/health/ready", { signal: AbortSignal.timeout(2000) });
    if (!ready.ok) throw new Error(`registry not ready (${ready.status})`);
    const api = await fetch(`${REGISTRY_URL}/subjects`, { signal: AbortSignal.timeout(2000) });
    if (!api.ok) throw new Error(`registry API answers ${api.status}`);
  },
};

const SERVICES = [kafka, cassandraSvc, registry];
/** What `--auth` adds. */
const AUTH_SERVICES = [cassandraAuth];
/** `--cluster`, instead of the single nodes: three Kafka nodes and a ring of three Cassandra nodes on 127.0.0.1-3. */
const KAFKA_CLUSTER = [1, 2, 3].map((i) => kafkaNode(`kafka-${i as 1 | 2 | 3}`, i, true));
const CASSANDRA_RING = [1, 2, 3].map((i) => cassandraNode(`cassandra-${i as 1 | 2 | 3}`, `127.0.0.${i}`, { cluster: true }));
const CLUSTER_SERVICES = [...KAFKA_CLUSTER, ...CASSANDRA_RING, registry];
export const CLUSTER = {
  brokers: KAFKA_CLUSTER.map((k) => `127.0.0.1:${k.port}`),
  contactPoints: CASSANDRA_RING.map((c) => `${c.host}:9042`),
  /** A node's process, for fault tests (kill it, start it again with `stack up --cluster <name>`). */
  pid: (name: string) => readPid(name),
};

/** Resolve the jars once per pom version: `mvn dependency:copy-dependencies` into .stack/jars/<name>. */
function resolveJars(name: string): string {
  const out = paths.jars(name);
  const pom = join(ROOT, "stack", name, "pom.xml");
  const stamp = join(out, ".pom.sha256");
  const sha = createHash("sha256").update(readFileSync(pom)).digest("hex");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === sha) return out;
  say(`resolving ${name} jars with Maven (first run only)…`);
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync("mvn", ["-q", "-B", "-f", pom, "dependency:copy-dependencies", "-DincludeScope=runtime",
    `-DoutputDirectory=${out}`], { stdio: "inherit" });
  if (r.error) throw new Error(`cannot run mvn (${r.error.message}): install Maven and a JDK 17+`);
  if (r.status !== 0) throw new Error(`mvn could not resolve ${name} (exit ${r.status}); see its output above`);
  writeFileSync(stamp, sha);
  return out;
}

function readPid(name: string): number | undefined {
  try {
    const pid = Number(readFileSync(paths.pid(name), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive (and not a zombie): used while a process we just spawned starts, before it has exec'd java. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

/** Alive and really ours: a recycled pid that now belongs to something else must never be signalled. */
function ourProcess(name: string): number | undefined {
  const pid = readPid(name);
  if (!pid) return undefined;
  try {
    return alive(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(DIR) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port });
    s.once("connect", () => { s.destroy(); done(true); });
    s.once("error", () => done(false));
  });
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log yet)";
  }
}

async function waitReady(svc: Service, pid: number): Promise<void> {
  const start = Date.now();
  let last = "";
  while (Date.now() - start < TIMEOUT_MS) {
    if (!alive(pid)) {
      throw new Error(`${svc.name} (pid ${pid}) exited during start-up. Read ${paths.log(svc.name)} and ${paths.out(svc.name)}:\n` +
        tail(paths.out(svc.name)) + "\n" + tail(paths.log(svc.name)));
    }
    try {
      await svc.probe();
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(1000);
  }
  throw new Error(`${svc.name} did not answer within ${TIMEOUT_MS / 1000}s (last error: ${last}). Read ${paths.log(svc.name)}`);
}

async function up(svc: Service): Promise<void> {
  const running = ourProcess(svc.name);
  if (running) {
    await waitReady(svc, running);
    say(`${svc.name} already running (pid ${running}), answering on ${svc.host ?? "127.0.0.1"}:${svc.port}`);
    return;
  }
  if (await portOpen(svc.port, svc.host)) {
    throw new Error(`${svc.host ?? "127.0.0.1"}:${svc.port} is taken by a process this script did not start; stop it or free the port`);
  }
  const jars = resolveJars(svc.jarsOf ?? svc.name);
  const args = [...jvmOptions(svc), ...svc.prepare(jars)];
  mkdirSync(join(DIR, "logs"), { recursive: true });
  mkdirSync(join(DIR, "run"), { recursive: true });
  const out = openSync(paths.out(svc.name), "a");
  // Detached in its own session, so that it outlives this script and a Ctrl-C here does not reach it.
  const child = timerSlack(svc.timerSlackNs, () =>
    spawn("java", args, { detached: true, stdio: ["ignore", out, out], cwd: paths.home(svc.name) }));
  closeSync(out);
  if (!child.pid) throw new Error(`could not start java for ${svc.name}: is a JDK 17+ on PATH?`);
  child.unref();
  writeFileSync(paths.pid(svc.name), String(child.pid));
  const t0 = Date.now();
  say(`${svc.name} starting (pid ${child.pid}), log ${paths.log(svc.name)}`);
  await waitReady(svc, child.pid);
  say(`${svc.name} answering on ${svc.host ?? "127.0.0.1"}:${svc.port} after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

/**
 * Runs `start` (which spawns a process) with this thread's Linux timer slack set to `ns`, then puts it back.
 * A child inherits its parent thread's slack and keeps it across exec, and every thread the JVM creates
 * inherits it in turn; no privilege is needed (prctl PR_SET_TIMERSLACK on the calling thread). Elsewhere
 * than Linux, or if libc cannot be loaded, the process starts with the default and a note says so.
 */
function timerSlack<T>(ns: number | undefined, start: () => T): T {
  if (!ns) return start();
  const PR_SET_TIMERSLACK = 29;
  let prctl: ((slack: bigint) => number) | undefined;
  if (process.platform === "linux") {
    try {
      const libc = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
      prctl = (slack) => libc.symbols.prctl(PR_SET_TIMERSLACK, slack, 0n, 0n, 0n);
    } catch {
      prctl = undefined;
    }
  }
  if (!prctl || prctl(BigInt(ns)) !== 0) {
    say(`note: could not set the timer slack (${ns} ns); starting with the kernel's default`);
    return start();
  }
  try {
    return start();
  } finally {
    prctl(0n); // 0: back to this thread's default
  }
}

async function createTopics(replicationFactor: number): Promise<void> {
  const admin = new Kafka({ brokers: ["127.0.0.1:9092"], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = TOPICS.filter((t) => !existing.has(t.topic));
    if (missing.length) await admin.createTopics({ topics: missing.map((t) => ({ ...t, replicationFactor })), waitForLeaders: true });
    say(`topics ready: ${TOPICS.map((t) => `${t.topic} (${t.numPartitions} partitions)`).join(", ")}, replication factor ${replicationFactor}`);
    // The first group request creates __consumer_offsets; wait for its coordinator here, once, so that
    // the first consumer does not meet "the coordinator is loading".
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await admin.fetchOffsets({ groupId: "events-stack-warmup", topics: [TOPICS[0]!.topic] });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`group coordinator not available after 60s: ${(e as Error).message}`);
        await sleep(500);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

async function down(svc: Service): Promise<void> {
  const pid = ourProcess(svc.name);
  if (!pid) {
    rmSync(paths.pid(svc.name), { force: true });
    say(`${svc.name} not running`);
    return;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (ourProcess(svc.name) && Date.now() < deadline) await sleep(250);
  if (ourProcess(svc.name)) {
    say(`${svc.name} (pid ${pid}) ignored SIGTERM for 60s; killing it`);
    process.kill(pid, "SIGKILL");
    while (ourProcess(svc.name)) await sleep(100);
  }
  rmSync(paths.pid(svc.name), { force: true });
  say(`${svc.name} stopped (pid ${pid})`);
}

/** ", timer slack 1 ms" as the kernel reports it for the process's main thread; empty where unknown. */
function slackOf(pid: number): string {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/timerslack_ns`, "utf8"));
    return `, timer slack ${ns >= 1e6 ? `${ns / 1e6} ms` : `${ns / 1e3} µs`}`;
  } catch {
    return "";
  }
}

async function status(services: Service[], cluster: boolean): Promise<boolean> {
  let allUp = true;
  for (const svc of services) {
    const pid = ourProcess(svc.name);
    const answers = await svc.probe().then(() => true, () => false);
    allUp &&= answers;
    say(`${svc.name}: ${pid ? `running (pid ${pid}${slackOf(pid)})` : "not started by this script"}, ${answers ? "answering" : "not answering"} on ${svc.host ?? "127.0.0.1"}:${svc.port}`);
  }
  if (cluster) {
    const admin = new Kafka({ brokers: CLUSTER.brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
    await admin.connect().then(() => admin.describeCluster()).then(
      (c) => say(`brokers: ${c.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(", ")}; controller ${c.controller}`),
      (e) => say(`brokers: not answering (${(e as Error).message})`)).finally(() => admin.disconnect().catch(() => {}));
    const client = new cassandra.Client({ contactPoints: CLUSTER.contactPoints, localDataCenter: "datacenter1" });
    await client.connect().then(() => say(`ring: ${client.hosts.values().map((h) => `${h.address} ${h.isUp() ? "up" : "DOWN"}`).join(", ")}`),
      (e) => say(`ring: not answering (${(e as Error).message})`)).finally(() => client.shutdown().catch(() => {}));
  }
  return allUp;
}

const usage = "usage: bun run stack up|down|status|reset [--auth | --cluster] [service]";

async function main(argv: string[]): Promise<number> {
  const withAuth = argv.includes("--auth");
  const cluster = argv.includes("--cluster");
  const [cmd, only] = argv.filter((a) => a !== "--auth" && a !== "--cluster");
  const all = [...SERVICES, ...AUTH_SERVICES, ...CLUSTER_SERVICES.filter((x) => x !== registry)];
  const stack = cluster ? CLUSTER_SERVICES : [...SERVICES, ...(withAuth ? AUTH_SERVICES : [])];
  // Without a name: up starts the stack asked for; down, reset and status take that and whatever else runs.
  const chosen = only ? all.filter((s) => s.name === only)
    : cmd === "up" ? stack : all.filter((s) => stack.includes(s) || ourProcess(s.name));
  if (!chosen.length) throw new Error(`unknown service "${only}"; ${usage}`);
  switch (cmd) {
    case "up": {
      const t0 = Date.now();
      const other = cluster ? [kafka, cassandraSvc] : [...KAFKA_CLUSTER, ...CASSANDRA_RING];
      const clash = other.filter((s) => ourProcess(s.name)).map((s) => s.name);
      if (clash.length && !only) throw new Error(`${clash.join(", ")} run${clash.length === 1 ? "s" : ""}, on the same ports: \`bun run stack down\` first`);
      // Cassandra takes longest to boot: start it first. A ring's seed (127.0.0.1) answers before the others join.
      const seed = chosen.find((s) => s.name === "cassandra-1");
      await Promise.all([
        ...chosen.filter((s) => !s.name.startsWith("cassandra-") || s === cassandraAuth).reverse().map((s) => up(s)),
        (async () => {
          if (seed) await up(seed);
          await Promise.all(chosen.filter((s) => /^cassandra-[23]$/.test(s.name)).map((s) => up(s)));
        })(),
      ]);
      if (chosen.some((s) => s.name.startsWith("kafka"))) {
        await createTopics(cluster ? 3 : 1);
        await kafkaScramUser();
        say(`Kafka's SASL/SCRAM listener: 127.0.0.1:9094 (user ${stackSecrets().kafka.username}; password in ${join(DIR, "secrets.json")})`);
      }
      if (chosen.includes(cassandraAuth)) say(`authenticated Cassandra: ${AUTH_CASSANDRA} (roles in ${join(DIR, "secrets.json")})`);
      say(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      return 0;
    }
    case "down":
      await Promise.all(chosen.map((s) => down(s)));
      return 0;
    case "status":
      return (await status(chosen, cluster)) ? 0 : 1;
    case "reset":
      await Promise.all(chosen.map((s) => down(s)));
      for (const s of chosen) rmSync(paths.home(s.name), { recursive: true, force: true });
      if (cluster) rmSync(join(DIR, "kafka-cluster.id"), { force: true });
      rmSync(join(DIR, "logs"), { recursive: true, force: true });
      say("data and logs removed");
      return 0;
    default:
      console.error(usage);
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`stack: ${e.message}`);
      process.exit(1);
    },
  );
}

export { main as stack, paths as stackPaths, timerSlack };
