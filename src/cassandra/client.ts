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

/**
 * What an error really was when every host answered "unprepared": the driver re-prepares the statement on
 * that host and, if re-preparing fails, moves on to the next host and forgets why (request-execution.js), so a
 * table dropped under running writes surfaces as NoHostAvailable of "Prepared query … not found", which looks
 * like an outage. If the table is gone from the schema, say so (the failure policy stops on it); otherwise the
 * error stands (a node that restarted and lost its prepared statements: the next attempt prepares again).
 */
export async function unpreparedCause(client: cassandra.Client, keyspace: string, table: string, err: unknown): Promise<unknown> {
  if (!(err instanceof cassandra.errors.NoHostAvailableError)) return err;
  const inner = Object.values(err.innerErrors ?? {});
  const unprepared = (e: unknown) => e instanceof cassandra.errors.ResponseError && e.code === cassandra.types.responseErrorCodes.unprepared;
  if (!inner.length || !inner.every(unprepared)) return err;
  const found = await client.metadata.getTable(keyspace, table).catch(() => undefined);
  return found === null
    ? new cassandra.errors.ResponseError(cassandra.types.responseErrorCodes.invalid, `unconfigured table ${table}`)
    : err;
}
