// The windows' wiring to the consumer (src/consume/windowing.ts), with the committed offsets injected.
import { expect, test } from "bun:test";
import { Windowing } from "../../src/consume/windowing.ts";
import { encodePoint } from "../../src/windows/operator.ts";
import { Aborted } from "../../src/common/retry.ts";

const S = { sizeMs: 1000, allowedLatenessMs: 0, outOfOrdernessMs: 0 };
const point = { offset: 10, maxEventTime: 50_000, closedBefore: 49_000 };

test("chunks wait for the commit points, read again while Kafka is away, then see the restored watermark", async () => {
  const w = new Windowing(S);
  let calls = 0;
  w.assign([0], async () => {
    if (++calls < 3) throw new Error("There is no leader for this topic-partition");
    return new Map([[0, { offset: 10, metadata: encodePoint(point) }]]);
  });
  const seen = await w.inOrder(0, async () => w.of(0)!.watermark);
  expect(calls).toBe(3);
  expect(seen).toBe(49_999); // 50,000 − 0 − 1: the watermark the records after offset 10 were judged by
  expect(w.limit(0, 5)).toBeUndefined(); // no point recorded yet: nothing may be committed
});

test("a commit point whose offset is not the committed one is not restored; a newer assignment abandons an older wait", async () => {
  const w = new Windowing(S);
  w.assign([0], async () => new Map([[0, { offset: 11, metadata: encodePoint(point) }]]));
  expect(await w.inOrder(0, async () => w.of(0)!.watermark)).toBe(Number.MIN_SAFE_INTEGER);

  const stuck = new Windowing(S);
  stuck.assign([1], async () => { throw new Error("broker away"); });
  const waiting = stuck.inOrder(1, async () => "ran");
  stuck.assign([1], async () => new Map());
  await expect(waiting).rejects.toBeInstanceOf(Aborted);
  expect(await stuck.inOrder(1, async () => "ran")).toBe("ran");
});

test("chunks of a partition are windowed in the order they came, whatever their preludes take", async () => {
  const w = new Windowing(S);
  w.assign([0], async () => new Map());
  const order: number[] = [];
  await Promise.all([30, 0, 10].map((ms, i) => w.inOrder(0, async () => {
    await Bun.sleep(ms);
    order.push(i);
  })));
  expect(order).toEqual([0, 1, 2]);
});
