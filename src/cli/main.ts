#!/usr/bin/env bun
/**
 * `events`: one binary, five commands.
 *   consume   Kafka → decode → validate/transform → bucket_date → Cassandra (src/consume/pipeline.ts)
 *   simulate  realistic website activity into Kafka (src/simulate/simulate.ts)
 *   migrate   apply cql/schema.cql (src/cassandra/migrate.ts)
 *   redrive   dead letters back to the source topic (src/redrive/redrive.ts)
 *   collect   events from websites over HTTP into Kafka (src/collect/collect.ts)
 * Settings come from env vars and flags (src/cli/config.ts); a bad one exits 2 with one line.
 */
import "./signals.ts";
import pkg from "../../package.json" with { type: "json" };
import { type Command, ConfigError, loadConfig, settingsHelp } from "./config.ts";
import { describeCassandraError } from "../cassandra/client.ts";
import { log, setLogLevel } from "../common/log.ts";
import { release } from "./signals.ts";

const COMMANDS: Record<Command, string> = {
  consume: "run the pipeline with its status server until SIGTERM/SIGINT (then drain, commit, exit 0)",
  simulate: "produce realistic user events to Kafka, with the status server",
  migrate: "apply cql/schema.cql (keyspace and tables); idempotent",
  redrive: "re-send dead letters (filtered by reason, time, source offsets) to the source topic, each once",
  collect: "take events from websites over HTTP (POST /v1/events, the tracker /v1/tracker.js) into Kafka",
};

function usage(): string {
  return [
    `events ${pkg.version}: real-time user-event pipeline (Kafka → Cassandra)`,
    "",
    "usage: events <command> [flags]",
    "",
    ...Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(10)}${d}`),
    "",
    "  events <command> --help   the command's flags, env vars and defaults",
    "  events --version",
    "",
    "Every setting is an env var with a flag of the same meaning; the flag wins.",
    "Durations: 500ms, 30s, 2m, 1h, 30d.",
  ].join("\n");
}

function commandUsage(cmd: Command): string {
  return `usage: events ${cmd} [flags]\n\n${COMMANDS[cmd]}\n\nflags and env vars:\n${settingsHelp(cmd)}`;
}

async function run(cmd: Command, argv: string[]): Promise<number> {
  const cfg = loadConfig(cmd, argv);
  setLogLevel(cfg.logLevel);
  switch (cmd) {
    case "migrate": {
      release(); // nothing to drain: a signal stops it at once
      const { migrate } = await import("../cassandra/migrate.ts");
      try {
        await migrate(cfg);
      } catch (e) {
        console.error(`events migrate: ${describeCassandraError(e, cfg)}`);
        return 1;
      }
      return 0;
    }
    case "consume": {
      const { consume } = await import("../consume/pipeline.ts");
      return consume(cfg);
    }
    case "simulate": {
      const { simulate } = await import("../simulate/simulate.ts");
      return simulate(cfg);
    }
    case "collect": {
      const { collect } = await import("../collect/collect.ts");
      return collect(cfg);
    }
    case "redrive": {
      release(); // a signal stops it at once: what was sent is marked, a second run goes on from there
      const { redrive } = await import("../redrive/redrive.ts");
      return redrive(cfg);
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v" || first === "version") {
    console.log(pkg.version);
    return 0;
  }
  if (!first || first === "--help" || first === "-h" || first === "help") {
    console.log(usage());
    return first ? 0 : 2;
  }
  if (!(first in COMMANDS)) {
    console.error(`events: unknown command "${first}"; commands: ${Object.keys(COMMANDS).join(", ")} (events --help)`);
    return 2;
  }
  const cmd = first as Command;
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandUsage(cmd));
    return 0;
  }
  try {
    return await run(cmd, rest);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`events ${cmd}: ${e.message}`);
      return 2;
    }
    // One line for people on stderr, one JSON line for the log; no stack trace for a known failure.
    log.fatal({ err: (e as Error)?.message ?? String(e) }, `events ${cmd} failed`);
    console.error(`events ${cmd}: ${(e as Error)?.message ?? e}`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
  // Clients may keep sockets or timers alive after a command is done; the command's result is final.
  process.exit(process.exitCode);
}
