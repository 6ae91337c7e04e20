/**
 * How large the sink's unlogged batches may be: SINK_BATCH_ROWS and 16 KiB, kept under the cluster's batch warn
 * thresholds (every batch over one logs a warning on its coordinator). Pure: the settings are read by the sink.
 */
import { parseSize } from "../cli/config.ts";

/** Below Cassandra's default batch_size_fail_threshold (50 KiB), with room for the mutation overhead. */
const MAX_BATCH_BYTES = 16 * 1024;
/** Cassandra's defaults, assumed when its settings cannot be read (before 4.0, or not allowed). */
const DEFAULT_WARN = { bytes: 5 * 1024, partitions: 10 };

/** How large the sink's batches may be: SINK_BATCH_ROWS and 16 KiB, kept under the cluster's warnings. */
export interface BatchLimits {
  rows: number;
  bytes: number;
}

/**
 * The batch limits under which Cassandra logs no warning, from its settings (system_views.settings):
 * batch_size_warn_threshold (4.1+: "5KiB"; 4.0: batch_size_warn_threshold_in_kb, "5") and
 * unlogged_batch_across_partitions_warn_threshold. Rows of a batch are counted as if each were its own
 * partition, and its size as a quarter more than the sink's estimate (rowBytes) to be safe.
 */
export function batchLimits(settings: { name: string; value: string | null }[], batchRows: number): BatchLimits & { from: string } {
  const get = (name: string) => settings.find((x) => x.name === name)?.value ?? undefined;
  const size = get("batch_size_warn_threshold");
  const sizeKb = get("batch_size_warn_threshold_in_kb");
  const partitions = Number(get("unlogged_batch_across_partitions_warn_threshold"));
  const warnBytes = size !== undefined ? parseSize(size) : sizeKb !== undefined ? Number(sizeKb) * 1024 : Number.NaN;
  const known = Number.isFinite(warnBytes) && Number.isFinite(partitions) && partitions >= 1;
  const warn = known ? { bytes: warnBytes, partitions } : DEFAULT_WARN;
  return {
    rows: Math.max(1, Math.min(batchRows, warn.partitions)),
    bytes: Math.max(1024, Math.min(MAX_BATCH_BYTES, Math.floor((warn.bytes * 4) / 5))),
    from: known ? "the cluster's warn thresholds" : "Cassandra's default warn thresholds (its settings could not be read)",
  };
}

