/**
 * Compression codecs for KafkaJS, which ships gzip only: a batch compressed with snappy, lz4 or zstd otherwise
 * crash-loops the consumer ("LZ4 compression not implemented"). Registered once, when the client module loads,
 * through KafkaJS's own codec table (CompressionCodecs). Each works inside the compiled binary: snappy and lz4
 * are plain JavaScript (kafkajs-snappy over snappyjs, with the xerial framing Java producers use; lz4js, LZ4
 * frames as Kafka writes them), zstd is Bun's own (Bun.zstdCompress).
 */
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import snappy from "kafkajs-snappy";
import lz4 from "lz4js";
import xxh32 from "lz4js/xxh32.js";

/** What KAFKA_COMPRESSION may name, and KafkaJS's type for it. */
export const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;
export type Compression = keyof typeof COMPRESSION;

/** KafkaJS's codec shape: compress an encoder's bytes, decompress a batch's records. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** LZ4 frame constants (the LZ4 frame format, as Kafka's Lz4BlockOutputStream writes it). */
const LZ4_MAGIC = 0x184d2204;
const LZ4_FLG = 0x60; // version 01, blocks independent; no block or content checksums, no content size
const LZ4_BD = 7 << 4; // blocks of at most 4 MiB
const LZ4_BLOCK = 4 * 1024 * 1024;
const LZ4_UNCOMPRESSED = 0x80000000;
/** lz4js's match table, reused: emptied before each block, so that no block refers into another. */
const lz4Table = new Uint32Array(1 << 16);

/**
 * An LZ4 frame of independent blocks. lz4js's own frame writer leaves the block-independence flag unset (its
 * blocks may refer back into earlier ones), and Kafka's reader refuses such frames ("unexpected error" from the
 * broker); so the frame is written here, each block compressed by lz4js with a fresh hash table.
 */
function lz4Frame(src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(7 + lz4.compressBound(src.length) + 4 * Math.ceil(src.length / LZ4_BLOCK) + 4);
  out.writeUInt32LE(LZ4_MAGIC, 0);
  out[4] = LZ4_FLG;
  out[5] = LZ4_BD;
  out[6] = (xxh32.hash(0, out, 4, 2) >> 8) & 0xff; // the descriptor's checksum
  let o = 7;
  const block = Buffer.allocUnsafe(lz4.compressBound(Math.min(src.length, LZ4_BLOCK)));
  for (let at = 0; at < src.length; at += LZ4_BLOCK) {
    const n = Math.min(LZ4_BLOCK, src.length - at);
    const size = lz4.compressBlock(src, block, at, n, lz4Table.fill(0));
    if (size === 0 || size >= n) {
      out.writeUInt32LE((LZ4_UNCOMPRESSED | n) >>> 0, o);
      out.set(src.subarray(at, at + n), o + 4);
      o += 4 + n;
    } else {
      out.writeUInt32LE(size, o);
      block.copy(out, o + 4, 0, size);
      o += 4 + size;
    }
  }
  out.writeUInt32LE(0, o); // the end mark
  return out.subarray(0, o + 4);
}

export const lz4Codec: Codec = {
  async compress(encoder) {
    return lz4Frame(encoder.buffer);
  },
  async decompress(buffer) {
    return Buffer.from(lz4.decompress(buffer));
  },
};

export const zstdCodec: Codec = {
  async compress(encoder) {
    return Buffer.from(await Bun.zstdCompress(encoder.buffer));
  },
  async decompress(buffer) {
    return Buffer.from(await Bun.zstdDecompress(buffer));
  },
};

export const snappyCodec: Codec = snappy();

const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
codecs[CompressionTypes.Snappy] = () => snappyCodec;
codecs[CompressionTypes.LZ4] = () => lz4Codec;
codecs[CompressionTypes.ZSTD] = () => zstdCodec;
