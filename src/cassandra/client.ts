/** One configured cassandra-driver client, shared by `migrate` and the sink. */
import cassandra from "cassandra-driver";
import type { Config } from "../cli/config.ts";

export type CassandraSettings = Pick<Config,
  "contactPoints" | "localDc" | "cassandraUsername" | "cassandraPassword" | "cassandraTls">;

export function cassandraClient(cfg: CassandraSettings, keyspace?: string): cassandra.Client {
  return new cassandra.Client({
    contactPoints: cfg.contactPoints,
    localDataCenter: cfg.localDc,
    keyspace,
    credentials: cfg.cassandraUsername ? { username: cfg.cassandraUsername, password: cfg.cassandraPassword } : undefined,
    sslOptions: cfg.cassandraTls ? { rejectUnauthorized: true } : undefined,
    socketOptions: { connectTimeout: 5000, readTimeout: 12_000 },
    // Two connections to each local node carry the sink's concurrent requests (the driver multiplexes them).
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2, [cassandra.types.distance.remote]: 1 } },
  });
}

/** Turn the driver's errors into one line a person can act on. */
export function describeCassandraError(e: unknown, cfg: CassandraSettings): string {
  const err = e as Error & { innerErrors?: Record<string, Error>; code?: number };
  if (err instanceof cassandra.errors.NoHostAvailableError) {
    const inner = hostErrors(err);
    if (/authenticat|credentials|Provided username/i.test(inner)) return `Cassandra rejected the credentials (${inner})`;
    return `cannot reach Cassandra at ${cfg.contactPoints.join(",")} (${inner || err.message})`;
  }
  return err?.message ?? String(e);
}

/** A NoHostAvailableError's per-host causes, as "host: message; …" (empty when it has none). */
export function hostErrors(err: InstanceType<typeof cassandra.errors.NoHostAvailableError>): string {
  return Object.entries(err.innerErrors ?? {}).map(([h, ie]) => `${h}: ${(ie as Error).message}`).join("; ");
}
