#!/usr/bin/env bun
/**
 * KafkaJS's record-batch decoding alone, in nanoseconds per record: what the consumer pays per record before the
 * pipeline sees it. No I/O: one 500-record batch (keys and 260-byte values, as simulated events) encoded once,
 * decoded 400 times by each KafkaJS copy given, alternating, median of 40 rounds of 10.
 *
 *   bun scripts/bench/kafkajs-decode.ts name=node_modules/kafkajs name=/path/to/another/kafkajs [--save]
 *
 * (An unpatched or differently patched copy: `cp -r node_modules/kafkajs /tmp/k` and `patch -R -p1` in it.)
 */
import { resolve } from "node:path";
import { machine, writeReport } from "./measure.ts";

const copies = process.argv.slice(2).filter((a) => a.includes("=")).map((a) => {
  const [name, dir] = a.split("=") as [string, string];
  return { name, dir: resolve(dir) };
});
if (copies.length < 1) {
  console.error("kafkajs-decode: name=path/to/kafkajs [name=path …]");
  process.exit(2);
}
const mine = resolve(import.meta.dir, "../../node_modules/kafkajs");
const Decoder = require(`${mine}/src/protocol/decoder`);
const { RecordBatch } = require(`${mine}/src/protocol/recordBatch/v0`);
const Record = require(`${mine}/src/protocol/recordBatch/record/v0`);
const Long = require(`${mine}/src/utils/long`);
const records = Array.from({ length: 500 }, (_, i) => Record({ offsetDelta: i, timestampDelta: i * 3, key: Buffer.from(`user-${i}`), value: Buffer.alloc(260, i) }));
const { buffer } = await RecordBatch({ firstOffset: new Long(123_456_789), firstTimestamp: new Long(1_795_000_000_000), maxTimestamp: new Long(1_795_000_001_000), lastOffsetDelta: 499, records });
const decoders = copies.map((c) => ({ ...c, decode: require(`${c.dir}/src/protocol/recordBatch/v0/decoder`), rounds: [] as number[] }));
for (let round = 0; round < 45; round++) {
  for (const d of round % 2 ? [...decoders].reverse() : decoders) {
    const t = Bun.nanoseconds();
    for (let k = 0; k < 10; k++) await d.decode(new Decoder(buffer));
    if (round >= 5) d.rounds.push((Bun.nanoseconds() - t) / (10 * records.length)); // the first 5: warm-up
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const byCopy = Object.fromEntries(decoders.map((d) => [d.name, { dir: d.dir, medianNsPerRecord: Math.round(median(d.rounds)) }]));
const result = { date: new Date().toISOString(), what: "KafkaJS record-batch decoding, ns per record", machine: machine(), bun: Bun.version, byCopy };
const file = writeReport(`kafkajs-decode-${result.date}`, result);
console.log(`${Object.entries(byCopy).map(([k, v]) => `${k} ${v.medianNsPerRecord} ns`).join(" against ")} per record\nJSON: ${file}`);
