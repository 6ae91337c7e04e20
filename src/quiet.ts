/**
 * KafkaJS schedules `setTimeout(fn, throttledUntil - Date.now())` with throttledUntil = -1 when no broker
 * throttle applies, and Bun prints a TimeoutNegativeWarning to stderr for it. The timeout is clamped to
 * 1 ms either way, so the warning says nothing, and Bun prints it natively (process.emitWarning never
 * sees it): the only switch is NODE_NO_WARNINGS, read when the warning is about to be printed.
 * Our own diagnostics go through the JSON logger, which this does not touch.
 */
process.env.NODE_NO_WARNINGS ??= "1";
