/** The codecs src/kafka/compression.ts registers with KafkaJS: round trips, the formats Kafka expects, the registration. */
import { describe, expect, test } from "bun:test";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import { lz4Codec, snappyCodec, zstdCodec } from "../../src/kafka/compression.ts";

// What a record batch's records look like to a codec: repetitive, as many similar events are.
const records = Buffer.from(Array.from({ length: 2000 }, (_, i) => `{"user_id":"u${i % 37}","event_type":"PAGE_VIEW","n":${i}}`).join(""));
const codecs = { snappy: snappyCodec, lz4: lz4Codec, zstd: zstdCodec };

describe("compression codecs", () => {
  for (const [name, codec] of Object.entries(codecs)) {
    test(`${name}: decompress(compress(x)) is x, and smaller`, async () => {
      for (const x of [records, Buffer.alloc(0), Buffer.from("a"), records.subarray(0, 70_001)]) {
        const packed = await codec.compress({ buffer: x });
        expect((await codec.decompress(packed)).equals(x)).toBe(true);
      }
      expect((await codec.compress({ buffer: records })).length).toBeLessThan(records.length / 3);
    });
  }

  test("the wire formats Kafka's own clients read and write", async () => {
    // LZ4: a frame (magic 0x184D2204), as Kafka's KafkaLZ4BlockOutputStream writes it; zstd: a zstd frame (0xFD2FB528).
    const frame = await lz4Codec.compress({ buffer: records });
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(frame[4]).toBe(0x60); // version 01 with independent blocks: Kafka's reader refuses dependent ones
    // Several 4 MiB blocks, one of them incompressible (stored as it is).
    const noise = Buffer.allocUnsafe(4 * 1024 * 1024 + 17);
    for (let i = 0, x = 1; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const big = Buffer.concat([Buffer.alloc(1024 * 1024, "abc"), noise]);
    expect((await lz4Codec.decompress(await lz4Codec.compress({ buffer: big }))).equals(big)).toBe(true);
    expect((await zstdCodec.compress({ buffer: records })).readUInt32LE(0)).toBe(0xfd2fb528);
    // Snappy from a Java producer is xerial-framed: a magic header, versions, then length-prefixed raw blocks.
    const raw = await snappyCodec.compress({ buffer: records.subarray(0, 1000) });
    const raw2 = await snappyCodec.compress({ buffer: records.subarray(1000, 3000) });
    const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const xerial = Buffer.concat([Buffer.from([130, 83, 78, 65, 80, 80, 89, 0]), u32(1), u32(1), u32(raw.length), raw, u32(raw2.length), raw2]);
    expect((await snappyCodec.decompress(xerial)).equals(records.subarray(0, 3000))).toBe(true);
  });

  test("registered with KafkaJS: every codec resolves (unregistered, snappy, lz4 and zstd throw 'not implemented')", () => {
    const table = CompressionCodecs as unknown as Record<number, () => unknown>;
    expect(table[CompressionTypes.Snappy]!()).toBe(snappyCodec);
    expect(table[CompressionTypes.LZ4]!()).toBe(lz4Codec);
    expect(table[CompressionTypes.ZSTD]!()).toBe(zstdCodec);
  });
});
