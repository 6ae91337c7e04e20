/** `events migrate`: apply cql/schema.cql (keyspace and tables), idempotently, through cassandra-driver. */
import schemaCql from "../../cql/schema.cql" with { type: "text" };
import hourCql from "../../cql/hour.cql" with { type: "text" };
import { cassandraClient } from "./client.ts";
import type { Config } from "../cli/config.ts";
import { log } from "../common/log.ts";
import { BUCKET_TABLES } from "../codec/row.ts";

/** The schema's statements with the keyspace and replication filled in, comments stripped. */
export function schemaStatements(keyspace: string, replication: string, bucket: "day" | "hour" = "day"): string[] {
  return (bucket === "hour" ? `${schemaCql}\n${hourCql}` : schemaCql)
    .split("\n")
    .filter((l) => !l.trim().startsWith("--"))
    .join("\n")
    .replaceAll("{{keyspace}}", keyspace)
    .replaceAll("{{replication}}", replication)
    .split(";")
    .map((st) => st.trim())
    .filter(Boolean);
}

export async function migrate(cfg: Config): Promise<void> {
  const client = cassandraClient(cfg);
  try {
    await client.connect();
    let agreed = true;
    for (const cql of schemaStatements(cfg.keyspace, cfg.replication, cfg.bucket)) {
      // The driver waits (up to 10 s) for every node to agree on the schema after each DDL statement,
      // so the next statement can rely on the previous one.
      const rs = await client.execute(cql);
      // isSchemaInAgreement is set by the driver but missing from its type declarations.
      agreed &&= (rs.info as { isSchemaInAgreement?: boolean }).isSchemaInAgreement !== false;
      log.info({ statement: cql.split("\n")[0] }, "applied");
    }
    if (cfg.eventTtl > 0) {
      // Also on a table that exists: the default applies to what is written from now on.
      const ttl = Math.round(cfg.eventTtl / 1000);
      await client.execute(`ALTER TABLE ${cfg.keyspace}.${BUCKET_TABLES[cfg.bucket].table} WITH default_time_to_live = ${ttl}`);
      log.info({ seconds: ttl }, "default_time_to_live set");
    }
    if (!agreed) log.warn("schema agreement not reached within 10 s; nodes will converge, but check `nodetool describecluster`");
    log.info({ keyspace: cfg.keyspace }, "migrate done");
  } finally {
    await client.shutdown().catch(() => {});
  }
}
