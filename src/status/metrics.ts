/**
 * Prometheus metrics of a process (prom-client), named events_*; documented in the README ("Metrics").
 * The pipeline and the simulator update them; the status server exposes them.
 */
import client from "prom-client";
import { LatencyRecorder } from "./latency.ts";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: "events_" });

const counter = (name: string, help: string, labelNames: string[] = []) =>
  new client.Counter({ name, help, labelNames, registers: [registry] });
const gauge = (name: string, help: string, labelNames: string[] = []) =>
  new client.Gauge({ name, help, labelNames, registers: [registry] });

export const metrics = {
  consumed: counter("events_consumed_total", "records read from the source topic"),
  written: counter("events_written_total", "events written to Cassandra (acknowledged)"),
  deadLettered: counter("events_dead_lettered_total", "records sent to the dead-letter topic, by reason", ["reason"]),
  late: counter("events_late_total", "events at or below the watermark, by what LATE_EVENTS did with them", ["policy"]),
  windowLate: counter("events_window_late_total", "events too late for their window (its end + WINDOW_ALLOWED_LATENESS passed by the partition's watermark): not counted in it, offsets kept in event_windows.late_offsets"),
  windowResults: counter("events_window_results_total", "window results (window, type, partition) written, by whether the window is closed", ["closed"]),
  windowsOpen: gauge("events_windows_open", "windows open (not yet closed by the watermark), over the assigned partitions"),
  batches: counter("events_sink_batches_total", "Cassandra writes (batches or single rows), by whether their coordinator was a replica of every row (replica, not_replica; unknown on one node)", ["coordinator"]),
  retries: counter("events_sink_retries_total", "Cassandra writes retried after a timeout or unavailability"),
  committed: counter("events_offsets_committed_total", "records whose offsets were committed"),
  inFlight: gauge("events_in_flight", "records read but not yet written or dead-lettered"),
  writeSeconds: new client.Histogram({
    name: "events_cassandra_write_seconds", help: "Cassandra write latency (one row or one partition's rows)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  }),
  /** Kafka record timestamp to Cassandra write acknowledged, every event (see src/status/latency.ts). */
  endToEnd: new LatencyRecorder(),
  watermark: gauge("events_watermark_timestamp_seconds", "the pipeline's event-time watermark"),
  watermarkLag: gauge("events_watermark_lag_seconds", "how far the watermark is behind the wall clock"),
  partitionStalled: gauge("events_partition_stalled_seconds", "how long the partition has had records waiting and no chunk done, once past STALL_TIMEOUT (else 0)", ["partition"]),
  consumerLag: gauge("events_consumer_lag", "records in the partition not yet processed", ["partition"]),
  rebalances: counter("events_rebalances_total", "consumer-group joins (rebalances) this consumer took part in"),
  assignedPartitions: gauge("events_assigned_partitions", "partitions assigned to this consumer"),
  produced: counter("events_produced_total", "events acknowledged by Kafka (simulate)"),
  producedInvalid: counter("events_produced_invalid_total", "deliberately malformed records produced (simulate)"),
  produceRate: gauge("events_produce_rate", "events per second over the last second (simulate)"),
  collectRequests: counter("events_collect_requests_total", "requests to POST /v1/events, by HTTP status (collect)", ["status"]),
  collectAccepted: counter("events_collect_accepted_total", "events accepted and acknowledged by Kafka (collect)"),
  collectRejected: counter("events_collect_rejected_total", "events rejected, by reason (collect)", ["reason"]),
  collectPending: gauge("events_collect_pending_bytes", "bytes of accepted events waiting for Kafka's acknowledgement (collect)"),
  collectProduceSeconds: new client.Histogram({
    name: "events_collect_produce_seconds", help: "a request's wait for Kafka's acknowledgement of its events (collect)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  }),
};

registry.registerMetric(metrics.endToEnd.histogram("events_end_to_end_latency_seconds", "Kafka record timestamp to Cassandra write acknowledged",
  // Fine enough below a second for histogram_quantile to give a p99 worth quoting.
  [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60],
) as unknown as client.Metric);

/** A metric's current value, summed over its labels, for summaries and the status page. */
export async function value(c: client.Counter | client.Gauge): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}
