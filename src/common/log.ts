/** JSON lines on stdout (pino), one logger per process; secrets never reach it (config.redacted). */
import pino from "pino";

export const log = pino({
  level: process.env.LOG_LEVEL?.toLowerCase() ?? "info",
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export type Logger = typeof log;

export function setLogLevel(level: string): void {
  log.level = level;
}
