// Bun imports these as text (`with { type: "text" }`) and embeds them in the compiled binary.
declare module "*.cql" {
  const text: string;
  export default text;
}
declare module "*.avsc" {
  const schema: object;
  export default schema;
}

// Codec packages without types of their own (src/kafka/compression.ts).
declare module "kafkajs-snappy" {
  const codec: () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };
  export default codec;
}
declare module "lz4js" {
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  export function compressBound(n: number): number;
  /** Compresses src[sIndex, sIndex + sLength) into dst from 0; the compressed size (0: not compressible). */
  export function compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
}
declare module "lz4js/xxh32.js" {
  export function hash(seed: number, src: Uint8Array, index: number, length: number): number;
}
