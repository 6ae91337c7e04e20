/**
 * KafkaJS schedules `setTimeout(fn, throttledUntil - Date.now())` with throttledUntil = -1 when no broker
 * throttle applies; Bun then prints a TimeoutNegativeWarning on every connection. The timeout is clamped
 * to 1 ms either way, so the warning says nothing useful: drop it, and only it.
 */
const emit = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof warning === "string" ? (rest[0] as { type?: string } | string | undefined) : warning.name;
  const type = typeof name === "string" ? name : name?.type ?? (warning as Error).name;
  if (type === "TimeoutNegativeWarning") return;
  (emit as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
