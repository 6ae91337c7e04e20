/**
 * SIGTERM and SIGINT, caught from the program's first line (main.ts imports this before anything
 * heavy), so that a stop that arrives while modules load or clients connect is not lost: `consume` and
 * `simulate` take it as soon as they can (`stopRequested`), drain and exit 0. A second signal exits at
 * once. Commands with nothing to drain give the signals their default meaning back (`release`).
 */
type Signal = "SIGTERM" | "SIGINT";
const CODES: Record<Signal, number> = { SIGINT: 130, SIGTERM: 143 };

let first: Signal | undefined;
const waiting: ((s: Signal) => void)[] = [];
const handlers = new Map<Signal, () => void>();

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  const handler = () => {
    if (first) process.exit(CODES[sig]); // asked twice: stop now
    first = sig;
    for (const w of waiting.splice(0)) w(sig);
  };
  handlers.set(sig, handler);
  process.on(sig, handler);
}

/** Resolves with the first stop signal, whether it came before this call or comes after. */
export function stopRequested(): Promise<Signal> {
  return first ? Promise.resolve(first) : new Promise((r) => waiting.push(r));
}

/** Give the signals their default meaning back (and act on one that already came). */
export function release(): void {
  if (first) process.exit(CODES[first]);
  for (const [sig, handler] of handlers) process.off(sig, handler);
}
