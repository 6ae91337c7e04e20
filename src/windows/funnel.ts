/**
 * The shop's funnel over the last hour of event time, for the dashboard: of the sessions that started (LOGIN
 * or SIGNUP), the share that reached VIEW_ITEM, then ADD_TO_CART, then PURCHASE. A session reaches a step when
 * it has an event of that step's type and has reached every step before it (in any order within the hour).
 *
 * Pure and in memory: one consumer's partitions (a session is one user's, and a user is in one partition), in
 * one-minute buckets of event time, the last 60 kept. A session is `metadata.session_id` (the simulator's and
 * the tracker's field; from Avro, a 53-bit hash of it), else the user. Bounded: at most MAX_SESSIONS sessions per bucket (beyond, new sessions
 * of that minute are not counted: `truncated` says so).
 */
export const STEPS = [["LOGIN", "SIGNUP"], ["VIEW_ITEM"], ["ADD_TO_CART"], ["PURCHASE"]] as const;
const STEP_OF = new Map<string, number>(STEPS.flatMap((types, i) => types.map((t) => [t, i] as const)));
const BUCKET_MS = 60_000;
const MAX_SESSIONS = 100_000;

export interface FunnelReport {
  from: number | null;
  to: number | null;
  steps: { step: string; sessions: number; share: number }[];
  truncated: boolean;
}

export class Funnel {
  private readonly buckets = new Map<number, Map<string | number, number>>();
  private newest = Number.NEGATIVE_INFINITY;
  private truncated = false;

  constructor(private readonly spanMs = 3_600_000) {}

  /** Whether events of this type count (so that the caller looks up the session only for those). */
  static counts(eventType: string): boolean {
    return STEP_OF.has(eventType);
  }

  add(eventTime: number, eventType: string, session: string | number): void {
    const step = STEP_OF.get(eventType);
    if (step === undefined) return;
    const b = Math.floor(eventTime / BUCKET_MS);
    if (b > this.newest) {
      this.newest = b;
      const oldest = b - this.spanMs / BUCKET_MS;
      for (const k of this.buckets.keys()) if (k <= oldest) this.buckets.delete(k);
    } else if (b <= this.newest - this.spanMs / BUCKET_MS) return; // older than the hour
    let sessions = this.buckets.get(b);
    if (!sessions) this.buckets.set(b, (sessions = new Map()));
    const mask = sessions.get(session);
    if (mask === undefined && sessions.size >= MAX_SESSIONS) {
      this.truncated = true;
      return;
    }
    sessions.set(session, (mask ?? 0) | (1 << step));
  }

  report(): FunnelReport {
    const bySession = new Map<string | number, number>();
    for (const sessions of this.buckets.values()) for (const [s, m] of sessions) bySession.set(s, (bySession.get(s) ?? 0) | m);
    const reached = STEPS.map(() => 0);
    for (const m of bySession.values()) {
      for (let i = 0; i < STEPS.length && m & (1 << i); i++) reached[i]!++;
    }
    const started = reached[0]!;
    return {
      from: this.buckets.size ? (this.newest + 1) * BUCKET_MS - this.spanMs : null,
      to: this.buckets.size ? (this.newest + 1) * BUCKET_MS : null,
      steps: STEPS.map((types, i) => ({ step: types.join("/"), sessions: reached[i]!, share: started ? reached[i]! / started : 0 })),
      truncated: this.truncated,
    };
  }
}
