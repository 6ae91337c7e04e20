/**
 * The delivery core (src/consume/commits.ts) without a broker: Kafka's commit and the clock are fakes
 * that the test drives, so the races the integration tests cannot reach are played out step by step.
 */
import { describe, expect, test } from "bun:test";
import { Aborted } from "../../src/common/retry.ts";
import { CommitCore, type CommitIO, type Offset } from "../../src/consume/commits.ts";

/** A deferred promise: the test decides when a chunk's write or a commit finishes. */
function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Fake Kafka and timers; every call recorded. */
function harness(settings = { maxInFlight: 100, commitIntervalMs: 50 }) {
  const timers: { fn: () => void; ms: number }[] = [];
  const commits: { offsets: Offset[]; done: ReturnType<typeof deferred> }[] = [];
  const fatal: { e: Error; partition: number }[] = [];
  const failed: Error[] = [];
  const committedRecords: number[] = [];
  const io: CommitIO = {
    commit: (offsets) => {
      const done = deferred();
      commits.push({ offsets, done });
      return done.promise;
    },
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    commitFailed: (e) => failed.push(e),
    committed: (_p, _o, n) => committedRecords.push(n),
    fatal: (e, partition) => fatal.push({ e, partition }),
  };
  const core = new CommitCore(io, settings);
  /** Fire the commit interval's timer (the only timer with that delay), as the clock would. */
  const fireCommitTimer = () => {
    const i = timers.findIndex((t) => t.ms === settings.commitIntervalMs);
    expect(i).toBeGreaterThanOrEqual(0);
    timers.splice(i, 1)[0]!.fn();
  };
  /** Run a chunk whose completion the test controls. */
  const chunk = (partition: number, last: number, n: number) => {
    const d = deferred();
    let signal: AbortSignal | undefined;
    const ran = core.run(partition, last, n, (s) => {
      signal = s;
      s.addEventListener("abort", () => d.reject(new Aborted()));
      return d.promise;
    });
    return { ran, ...d, signal: () => signal! };
  };
  return { core, io, timers, commits, fatal, failed, committedRecords, fireCommitTimer, chunk };
}

describe("CommitCore", () => {
  test("chunks finishing out of order: the commit point moves only over the done prefix", async () => {
    const h = harness();
    h.core.assign([0]);
    const a = h.chunk(0, 9, 10); // offsets 0-9
    const b = h.chunk(0, 19, 10); // 10-19
    const c = h.chunk(0, 29, 10); // 20-29
    expect(h.core.inFlight).toBe(30);
    c.resolve();
    b.resolve();
    await tick();
    expect(h.core.track(0)!.toCommit).toBe(-1); // 0-9 still in flight: nothing may be committed
    expect(h.timers.length).toBe(0);
    a.resolve();
    await tick();
    expect(h.core.track(0)!.toCommit).toBe(30);
    expect(h.core.inFlight).toBe(0);
    h.fireCommitTimer();
    expect(h.commits.map((c) => c.offsets)).toEqual([[{ partition: 0, offset: 30 }]]);
    h.commits[0]!.done.resolve();
    await tick();
    expect(h.core.track(0)!.committed).toBe(30);
    expect(h.core.uncommitted()).toBe(false);
  });

  test("completions are coalesced: one commit per interval, and one in flight at a time", async () => {
    const h = harness();
    h.core.assign([0, 1]);
    const a = h.chunk(0, 9, 10);
    const b = h.chunk(1, 4, 5);
    a.resolve();
    b.resolve();
    await tick();
    expect(h.timers.filter((t) => t.ms === 50).length).toBe(1);
    h.fireCommitTimer();
    expect(h.commits.length).toBe(1);
    expect(h.commits[0]!.offsets).toEqual([{ partition: 0, offset: 10 }, { partition: 1, offset: 5 }]);
    // More completes while that commit is in flight: a second commit call waits for it, then runs once.
    const c = h.chunk(0, 19, 10);
    c.resolve();
    await tick();
    h.fireCommitTimer();
    expect(h.commits.length).toBe(1);
    h.commits[0]!.done.resolve();
    await tick();
    await tick();
    expect(h.commits.length).toBe(2);
    expect(h.commits[1]!.offsets).toEqual([{ partition: 0, offset: 20 }]);
  });

  test("a rebalance while a commit is in flight: old chunks are aborted and never committed; the late ack moves no new track", async () => {
    const h = harness();
    h.core.assign([0, 1]);
    const a = h.chunk(0, 9, 10);
    a.resolve();
    await tick();
    h.fireCommitTimer();
    expect(h.commits.length).toBe(1);
    const inFlight = h.chunk(1, 99, 100 - 10); // partition 1's chunk still being written
    // The group rebalances: partition 0 stays ours (a new track), partition 1 goes elsewhere.
    h.core.assign([0]);
    expect(inFlight.signal().aborted).toBe(true);
    await tick();
    expect(h.fatal).toEqual([]); // an abort is not a failure
    expect(h.core.inFlight).toBe(0);
    h.commits[0]!.done.resolve(); // the commit from before the rebalance lands now
    await tick();
    expect(h.core.track(0)!.committed).toBe(-1); // the new track starts from Kafka's offsets, not this ack
    expect(h.core.track(1)).toBeUndefined();
    expect(h.core.uncommitted()).toBe(false);
    // A chunk of the old assignment that completes late is never committed.
    const stale = h.chunk(1, 5, 1);
    expect(stale.ran).toBe(false);
  });

  test("an abort (shutdown's grace period over): chunks in flight stay uncommitted", async () => {
    const h = harness();
    h.core.assign([0]);
    const a = h.chunk(0, 9, 10);
    const b = h.chunk(0, 19, 10);
    a.resolve();
    await tick();
    h.core.abortAll();
    await tick();
    expect(b.signal().aborted).toBe(true);
    expect(h.core.inFlight).toBe(0);
    const flushed = h.core.flush();
    expect(h.commits.map((c) => c.offsets)).toEqual([[{ partition: 0, offset: 10 }]]); // only the done chunk
    h.commits[0]!.done.resolve();
    await flushed;
    expect(h.core.uncommitted()).toBe(false);
    expect(h.timers.filter((t) => t.ms === 50).length).toBe(0); // flush cleared the interval's timer
  });

  test("a failing commit: nothing is marked committed, and the next completion commits again", async () => {
    const h = harness();
    h.core.assign([0]);
    h.chunk(0, 9, 10).resolve();
    await tick();
    h.fireCommitTimer();
    h.commits[0]!.done.reject(new Error("The group is rebalancing"));
    await tick();
    await tick();
    expect(h.failed.map((e) => e.message)).toEqual(["The group is rebalancing"]);
    expect(h.core.track(0)!.committed).toBe(-1);
    expect(h.core.uncommitted()).toBe(true);
    h.chunk(0, 19, 10).resolve();
    await tick();
    h.fireCommitTimer();
    expect(h.commits[1]!.offsets).toEqual([{ partition: 0, offset: 20 }]);
    h.commits[1]!.done.resolve();
    await tick();
    expect(h.core.track(0)!.committed).toBe(20);
  });

  test("rows Cassandra rejects: dead-lettered, the chunk is done and committed; if dead-lettering fails, it is not, and the process stops", async () => {
    const h = harness();
    h.core.assign([0]);
    const sent: string[] = [];
    // The pipeline's handler in miniature: the sink refuses a row, the row goes to the dead-letter topic.
    const handler = (deadLetter: (row: string) => Promise<void>) => async () => {
      const rejected = ["row 3"];
      for (const r of rejected) await deadLetter(r);
    };
    h.core.run(0, 9, 10, handler(async (r) => void sent.push(r)));
    await tick();
    await tick();
    expect(sent).toEqual(["row 3"]);
    expect(h.core.track(0)!.toCommit).toBe(10);
    h.core.run(0, 19, 10, handler(async () => {
      throw new Error("dead-letter topic refused the record");
    }));
    await tick();
    await tick();
    expect(h.fatal.map((f) => [f.partition, f.e.message])).toEqual([[0, "dead-letter topic refused the record"]]);
    expect(h.core.track(0)!.toCommit).toBe(10); // never past the chunk that failed
    expect(h.core.track(0)!.pending.length).toBe(1);
  });

  test("the in-flight budget: a chunk waits for room, one chunk always fits alone", async () => {
    const h = harness({ maxInFlight: 25, commitIntervalMs: 50 });
    h.core.assign([0]);
    expect(h.core.fits(40)).toBe(true); // nothing in flight: an oversized chunk still goes
    const a = h.chunk(0, 19, 20);
    expect(h.core.fits(10)).toBe(false);
    let woke = false;
    void h.core.roomChanged(1000).then(() => (woke = true));
    a.resolve();
    await tick();
    expect(woke).toBe(true);
    expect(h.core.fits(10)).toBe(true);
  });

  test("a handler that throws synchronously fails its chunk like an async failure", async () => {
    const h = harness();
    h.core.assign([2]);
    h.core.run(2, 0, 1, () => {
      throw new TypeError("bug");
    });
    await tick();
    expect(h.fatal.map((f) => f.e.message)).toEqual(["bug"]);
    expect(h.core.inFlight).toBe(0);
  });
});

describe("CommitCore.stalled", () => {
  test("a partition with records waiting and no chunk done for the timeout is stalled; progress or an empty queue clears it", async () => {
    let now = 1_000_000;
    const h = harness();
    const core = new CommitCore({ ...h.io, now: () => now }, { maxInFlight: 100, commitIntervalMs: 50 });
    core.assign([0, 1]);
    let finish!: () => void;
    core.run(0, 9, 10, () => new Promise<void>((r) => (finish = r)));
    now += 59_000;
    expect(core.stalled(60_000)).toEqual([]);
    now += 2_000; // 61 s of waiting on partition 0; partition 1 has nothing waiting: not stalled, however long
    expect(core.stalled(60_000)).toEqual([{ partition: 0, seconds: 61 }]);
    finish();
    await tick();
    expect(core.stalled(60_000)).toEqual([]);
    // Records that begin to wait later are timed from then, not from the last progress long ago.
    now += 600_000;
    core.run(1, 4, 5, () => new Promise<void>(() => {}));
    now += 30_000;
    expect(core.stalled(60_000)).toEqual([]);
    now += 30_000;
    expect(core.stalled(60_000)).toEqual([{ partition: 1, seconds: 60 }]);
  });
});
