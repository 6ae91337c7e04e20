/**
 * patches/kafkajs@2.2.4.patch keeps the hunks whose effect is measured (docs/benchmark.md, "What was tried"):
 * for the consumer, its record decoder adds offsets and times as plain numbers (where exact) instead of a
 * BigInt per record and decodes records in place; every record must come out as the unpatched arithmetic gives
 * it (BigInt sums as strings), also where the numbers would not be exact (then the old way). For the producer
 * (simulate, the dead-letter producer), messages grouped per partition in place (was quadratic), encoders'
 * buffers not zero-filled, varints written in place, a record batch written into one buffer with its length
 * and CRC filled in afterwards, the CRC32C computed eight bytes at a time; and for every connection, its
 * request queue no longer polls itself every millisecond when nothing waits. What the broker receives must be
 * byte for byte what the unpatched code sent: checked here against reference encodings, and by the broker
 * itself (it refuses a batch whose CRC or length is wrong) in every integration test that produces.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";

/* eslint-disable @typescript-eslint/no-require-imports -- KafkaJS's internals have no types */
const Decoder = require("kafkajs/src/protocol/decoder");
const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0");
const Record = require("kafkajs/src/protocol/recordBatch/record/v0");
const decodeBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder");
const Long = require("kafkajs/src/utils/long");
const groupMessagesPerPartition = require("kafkajs/src/producer/groupMessagesPerPartition");
const RequestQueue = require("kafkajs/src/network/requestQueue");
const Encoder = require("kafkajs/src/protocol/encoder");
const crc32C = require("kafkajs/src/protocol/recordBatch/crc32C");
const createRequest = require("kafkajs/src/protocol/request");

/** CRC32C one byte at a time, from the polynomial: the reference for the patched table-driven one. */
function referenceCrc32C(bytes: Uint8Array): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** Zigzag LEB128 of a 64-bit value: the reference for the patched varint writers. */
function referenceVarLong(value: bigint): number[] {
  let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

interface Decoded { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, unknown> }

async function roundTrip(firstOffset: bigint, firstTimestamp: bigint, records: { offsetDelta: number; timestampDelta: bigint; key?: string; headers?: Record<string, string> }[]) {
  const encoded = await RecordBatch({
    firstOffset: new Long(firstOffset),
    firstTimestamp: new Long(firstTimestamp),
    maxTimestamp: new Long(firstTimestamp),
    lastOffsetDelta: records.length - 1,
    records: records.map((r, i) => Record({
      offsetDelta: r.offsetDelta, timestampDelta: new Long(r.timestampDelta),
      key: r.key === undefined ? null : Buffer.from(r.key), value: Buffer.from(`value ${i}`), headers: r.headers,
    })),
  });
  const batch = await decodeBatch(new Decoder(encoded.buffer));
  return batch.records as Decoded[];
}

describe("patched KafkaJS", () => {
  test("the patch is applied (bun install applies patches/ from package.json)", () => {
    const queue = readFileSync(require.resolve("kafkajs/src/network/requestQueue/index.js"), "utf8");
    expect(queue).toContain("Patched: nothing pending and not throttled");
    const crc = readFileSync(require.resolve("kafkajs/src/protocol/recordBatch/crc32C/crc32C.js"), "utf8");
    expect(crc).toContain("slicingTables");
    const decoder = readFileSync(require.resolve("kafkajs/src/protocol/recordBatch/record/v0/decoder.js"), "utf8");
    expect(decoder).toContain("readExactVarLong");
  });

  const offsets = [0n, 1n, 123_456_789n, 999_999_999_999_999n, 2n ** 53n - 3n, 2n ** 53n, 2n ** 62n];
  const times = [0n, -1n, 1_795_000_000_000n, -999_999_999_999_999n, 999_999_999_999_999n, 2n ** 53n - 2n, 2n ** 60n];
  const deltas = [0n, 5n, -5n, 60_000n, 2n ** 40n, 2n ** 48n, 2n ** 55n, -(2n ** 55n)];

  test("offsets and times are the exact sums, in every range", async () => {
    for (const firstOffset of offsets) {
      for (const firstTimestamp of times) {
        const records = deltas.map((timestampDelta, i) => ({ offsetDelta: i * 1000, timestampDelta, key: i % 2 ? `k${i}` : undefined }));
        const out = await roundTrip(firstOffset, firstTimestamp, records);
        expect(out.map((r) => [r.offset, r.timestamp])).toEqual(records.map((r) =>
          [String(firstOffset + BigInt(r.offsetDelta)), String(firstTimestamp + r.timestampDelta)]));
        expect(out.map((r) => [r.key?.toString() ?? null, r.value?.toString()])).toEqual(records.map((r, i) => [r.key ?? null, `value ${i}`]));
      }
    }
  });

  test("headers, none or some, and records after them read from the right place", async () => {
    const out = await roundTrip(10n, 1_795_000_000_000n, [
      { offsetDelta: 0, timestampDelta: 1n },
      { offsetDelta: 1, timestampDelta: 2n, headers: { a: "1", b: "2" } },
      { offsetDelta: 2, timestampDelta: 3n },
    ]);
    expect(out.map((r) => r.offset)).toEqual(["10", "11", "12"]);
    expect(out[0]!.headers).toEqual({});
    expect(Object.fromEntries(Object.entries(out[1]!.headers).map(([k, v]) => [k, String(v)]))).toEqual({ a: "1", b: "2" });
    expect(out.map((r) => r.value?.toString())).toEqual(["value 0", "value 1", "value 2"]);
  });

  test("producer: messages grouped per partition, in order", () => {
    const messages = Array.from({ length: 10 }, (_, i) => ({ key: String(i), value: `v${i}` }));
    const grouped = groupMessagesPerPartition({ topic: "t", partitionMetadata: [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }], messages,
      partitioner: ({ message }: { message: { key: string } }) => Number(message.key) % 3 });
    expect(grouped).toEqual({ 0: [messages[0], messages[3], messages[6], messages[9]], 1: [messages[1], messages[4], messages[7]], 2: [messages[2], messages[5], messages[8]] });
    expect(groupMessagesPerPartition({ topic: "t", partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });

  test("request queue: no check scheduled when nothing waits; a request held by throttling is still sent", async () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const queue = new RequestQueue({ clientId: "t", broker: "b", logger, requestTimeout: 1000, enforceRequestTimeout: false });
    // What a response does (fulfillRequest): check the queue. Unpatched, this scheduled a check in
    // (-1 - Date.now()) ms, i.e. 1 ms, which scheduled the next, forever.
    queue.checkPendingRequests();
    expect(queue.throttleCheckTimeoutId).toBeNull();
    // Throttled by the broker: a request is queued, and sent once the throttle time is over.
    queue.maybeThrottle(30);
    let sent = 0;
    queue.push({ entry: { correlationId: 1, apiKey: 0, apiName: "Produce", apiVersion: 0 }, expectResponse: true, sendRequest: () => { sent++; } });
    expect(sent).toBe(0);
    expect(queue.throttleCheckTimeoutId).not.toBeNull();
    await Bun.sleep(80);
    expect(sent).toBe(1);
    queue.destroy();
  });

  test("producer: CRC32C as the polynomial gives it, at every length and alignment", () => {
    expect(crc32C(Buffer.from("123456789"))).toBe(0xe3069283); // the standard check value
    for (let length = 0; length < 70; length++) {
      const bytes = Buffer.from(Array.from({ length: length + 3 }, (_, i) => (i * 151 + length * 7) & 0xff));
      for (const start of [0, 1, 3]) {
        const slice = bytes.subarray(start, start + length);
        expect(crc32C(slice)).toBe(referenceCrc32C(slice));
      }
    }
    const big = Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 2654435761) >>> 24));
    expect(crc32C(big)).toBe(referenceCrc32C(big));
  });

  test("producer: varints written in place, the same bytes as before, numbers or Longs", () => {
    const values = [0, 1, -1, 63, -64, 64, 127, 128, 300, -300, 2 ** 20, 2 ** 30 - 1, -(2 ** 30), 2 ** 30, -(2 ** 30) - 1,
      2 ** 31 - 1, -(2 ** 31), 1_795_000_000_000, -1_795_000_000_000, 2 ** 53 - 1];
    for (const v of values) {
      const expected = referenceVarLong(BigInt(v));
      expect([...new Encoder().writeVarLong(v).buffer]).toEqual(expected);
      expect([...new Encoder().writeVarLong(Long.fromNumber(v)).buffer]).toEqual(expected);
      expect(Encoder.sizeOfVarLong(v)).toBe(expected.length);
      if (v >= -(2 ** 31) && v < 2 ** 31) {
        expect([...new Encoder().writeVarInt(v).buffer]).toEqual(expected);
        expect(Encoder.sizeOfVarInt(v)).toBe(expected.length);
      }
    }
    // Several in a row, across the encoder's growth from its smallest size.
    const encoder = new Encoder(1);
    for (const v of values.slice(0, 12)) encoder.writeVarInt(v);
    expect([...encoder.buffer]).toEqual(values.slice(0, 12).flatMap((v) => referenceVarLong(BigInt(v))));
  });

  test("producer: a record batch in one buffer, its length and CRC filled in as the broker checks them", async () => {
    const records = Array.from({ length: 40 }, (_, i) => Record({ offsetDelta: i, timestampDelta: i * 37 - 5, key: `user-${i}`, value: Buffer.alloc(200 + i, i) }));
    const encoded = await RecordBatch({ firstTimestamp: 1_795_000_000_000, maxTimestamp: 1_795_000_001_000, lastOffsetDelta: 39, records });
    const bytes: Buffer = encoded.buffer;
    // FirstOffset int64, Length int32 (everything after it), PartitionLeaderEpoch int32, Magic int8, CRC uint32 of the rest.
    expect(bytes.readInt32BE(8)).toBe(bytes.length - 12);
    expect(bytes.readInt8(16)).toBe(2);
    expect(bytes.readUInt32BE(17)).toBe(referenceCrc32C(bytes.subarray(21)));
    const batch = await decodeBatch(new Decoder(bytes));
    expect(batch.records.map((r: Decoded) => [r.offset, r.timestamp, r.key?.toString(), r.value?.length])).toEqual(
      Array.from({ length: 40 }, (_, i) => [String(i), String(1_795_000_000_000 + i * 37 - 5), `user-${i}`, 200 + i]));
  });

  test("every request: size prefix, header and payload in one buffer", async () => {
    const payload = new Encoder().writeInt32(7).writeString("x".repeat(1000));
    const frame = await createRequest({ correlationId: 42, clientId: "events-test", request: { apiKey: 0, apiVersion: 3, encode: async () => payload } });
    const bytes: Buffer = frame.buffer;
    expect(bytes.readInt32BE(0)).toBe(bytes.length - 4);
    expect([bytes.readInt16BE(4), bytes.readInt16BE(6), bytes.readInt32BE(8), bytes.readInt16BE(12)]).toEqual([0, 3, 42, 11]);
    expect(bytes.subarray(14, 25).toString()).toBe("events-test");
    expect(bytes.subarray(25).equals(payload.buffer)).toBe(true);
  });
});
