/**
 * KafkaJS schedules `setTimeout(fn, throttledUntil - Date.now())` with throttledUntil = -1 when no broker
 * throttle applies, and Bun prints a TimeoutNegativeWarning to stderr for it (natively: neither
 * process.emitWarning nor a 'warning' listener sees it). A negative delay means "as soon as possible"
 * either way, so clamp it to 0 before Bun sees it; every other call passes through untouched.
 */
const original = globalThis.setTimeout;
globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) =>
  original(fn, typeof ms === "number" && ms < 0 ? 0 : ms, ...args)) as typeof setTimeout;
