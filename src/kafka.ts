/** One configured KafkaJS client, shared by consume (source, dead-letter) and simulate. */
import { Kafka, logLevel, type SASLOptions } from "kafkajs";
import type { Config } from "./config.ts";
import { log } from "./log.ts";

export type KafkaSettings = Pick<Config, "brokers" | "kafkaSsl" | "saslMechanism" | "saslUsername" | "saslPassword">;

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error", [logLevel.WARN]: "warn", [logLevel.INFO]: "info", [logLevel.DEBUG]: "debug",
};

export function kafkaClient(cfg: KafkaSettings, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.brokers,
    ssl: cfg.kafkaSsl,
    sasl: cfg.saslMechanism
      ? ({ mechanism: cfg.saslMechanism, username: cfg.saslUsername, password: cfg.saslPassword } as SASLOptions)
      : undefined,
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    // Retries forever in effect (the pipeline decides when to give up); the log says what happens.
    retry: { initialRetryTime: 250, maxRetryTime: 10_000, retries: 10 },
    logLevel: logLevel.WARN,
    // KafkaJS logs through ours: JSON lines, and never the SASL password (it is not in its log entries).
    logCreator: () => ({ namespace, level, label: _label, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry as Record<string, unknown>;
      log[LEVELS[level] ?? "info"]({ kafkajs: namespace, ...rest }, String(message));
    },
  });
}
