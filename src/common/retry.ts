/** Waiting out failures: capped exponential backoff that an AbortSignal can cut short. */

export class Aborted extends Error {
  constructor() {
    super("aborted");
  }
}

/** 100 ms doubling to 5 s, with ±25% jitter so that many writers do not retry in step. */
export function backoff(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Aborted());
    const onAbort = () => {
      clearTimeout(t);
      reject(new Aborted());
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** How p ended within ms: "done", the error it failed with, or "timeout" (it is then left to run). */
export async function within(p: Promise<unknown>, ms: number): Promise<"done" | "timeout" | Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([p.then(() => "done" as const, (e: unknown) => (e instanceof Error ? e : new Error(String(e)))), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
