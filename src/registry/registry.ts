/**
 * A Confluent-compatible schema registry (SCHEMA_REGISTRY_URL; Apicurio answers it under /apis/ccompat/v7):
 * the writer schema of each schema id, fetched once and kept for the life of the process (ids are immutable),
 * and registering ours for producers.
 *
 * What an answer means is the failure policy's (src/common/failure.ts, "schema registry"): an id it does not
 * know is that record's fault (unknown_schema); being unreachable or overloaded is an outage (the partition
 * waits, nothing is dead-lettered); refused credentials or a URL that is not the API is a wrong deployment.
 * `fetch` is injected so that the policy's handling is tested without a registry.
 */
import schema from "../codec/user_event.avsc" with { type: "json" };
import { type Writer, writerOf } from "../codec/resolved.ts";
import { classify, Stop } from "../common/failure.ts";
import { log } from "../common/log.ts";
import { Aborted, backoff, sleep } from "../common/retry.ts";
import { RegistryError } from "./errors.ts";


export interface RegistrySettings {
  url: string;
  username: string;
  password: string;
}

const TIMEOUT_MS = 5000;

export class SchemaRegistry {
  private readonly writers = new Map<number, Writer>();
  private readonly pending = new Map<number, Promise<void>>();
  private readonly closing = new AbortController();
  private readonly headers: Record<string, string>;

  constructor(private readonly cfg: RegistrySettings, private readonly http: typeof fetch = fetch) {
    this.headers = { Accept: "application/vnd.schemaregistry.v1+json, application/json" };
    if (cfg.username) this.headers.Authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString("base64")}`;
  }

  /** What is known of this id; undefined if it was never loaded (load() first). */
  lookup(id: number): Writer | undefined {
    return this.writers.get(id);
  }

  /**
   * Make sure every id is known, waiting out outages with backoff (the partition waits) until `signal`
   * aborts. Throws Stop for a wrong deployment. Chunks of several partitions asking for one id share one request.
   */
  async load(ids: Iterable<number>, signal: AbortSignal): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const id of ids) {
      if (this.writers.has(id)) continue;
      let p = this.pending.get(id);
      if (!p) {
        p = this.fetchWriter(id).finally(() => this.pending.delete(id));
        this.pending.set(id, p);
      }
      waits.push(p);
    }
    if (!waits.length) return;
    // This caller stops waiting when its own signal aborts; the request goes on for the others (until close()).
    await Promise.race([Promise.all(waits), aborted(signal)]);
  }

  /** Ends the retries of requests in flight (at shutdown). */
  close(): void {
    this.closing.abort();
  }

  private async fetchWriter(id: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.writers.set(id, writerOf(await this.schemaText(id)));
        break;
      } catch (e) {
        const v = classify("schema registry", e);
        if (v.action === "stop") throw new Stop(v.line);
        if (v.action === "reject") {
          this.writers.set(id, { kind: "unknown" });
          break;
        }
        if (attempt % 10 === 0) log.warn({ err: (e as Error).message, id, attempt }, "schema registry unreachable; retrying (the partition waits)");
        await sleep(backoff(attempt), this.closing.signal);
      }
    }
    const w = this.writers.get(id)!;
    log.info({ id, writer: w.kind, ...(w.kind === "incompatible" ? { detail: w.detail } : {}) }, "writer schema loaded");
  }

  /**
   * A start-up check that the URL is the API: a wrong one is said now (Stop), not as a dead letter per record.
   * An unreachable registry is only warned about: records that need it wait for it.
   */
  async check(): Promise<void> {
    try {
      const subjects = await this.get("/subjects");
      if (!Array.isArray(subjects)) throw new RegistryError(200, undefined, "GET /subjects did not answer a list of subjects");
    } catch (e) {
      const v = classify("schema registry", e);
      if (v.action === "wait") log.warn({ err: (e as Error).message }, "schema registry unreachable at start-up; records that need it will wait");
      else throw new Stop(v.line);
    }
  }

  /** Register the project's schema under `subject` (the same schema again gets the same id); its id. */
  async register(subject: string): Promise<number> {
    const res = await this.request(`/subjects/${encodeURIComponent(subject)}/versions`, {
      method: "POST", body: JSON.stringify({ schema: JSON.stringify(schema) }),
      headers: { "Content-Type": "application/vnd.schemaregistry.v1+json" },
    });
    const id = (res as { id?: unknown }).id;
    if (typeof id !== "number") throw new RegistryError(200, undefined, `registering ${subject} answered no id`);
    return id;
  }

  private async schemaText(id: number): Promise<string> {
    const res = (await this.get(`/schemas/ids/${id}`)) as { schema?: unknown; schemaType?: unknown };
    if (res.schemaType !== undefined && res.schemaType !== "AVRO") return JSON.stringify({ notAvro: res.schemaType });
    if (typeof res.schema !== "string") throw new RegistryError(200, undefined, `schema id ${id}: the answer has no schema`);
    return res.schema;
  }

  private get(path: string): Promise<unknown> {
    return this.request(path, { method: "GET" });
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    const res = await this.http(`${this.cfg.url.replace(/\/+$/, "")}${path}`, {
      ...init, headers: { ...this.headers, ...(init.headers as Record<string, string>) }, signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new RegistryError(res.status, undefined, `${init.method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 80)}`);
    }
    if (!res.ok) {
      const b = body as { error_code?: number; message?: string };
      throw new RegistryError(res.status, b.error_code, `${init.method} ${path}: HTTP ${res.status}${b.error_code ? ` (error_code ${b.error_code})` : ""}: ${b.message ?? text.slice(0, 80)}`);
    }
    return body;
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(new Aborted());
    signal.addEventListener("abort", () => reject(new Aborted()), { once: true });
  });
}

/**
 * Our schema's id under <topic>-value (the Confluent default subject), registered if it is not yet: what a
 * producer of Confluent-framed events (simulate, collect) writes after the magic byte.
 */
export async function registerSchema(cfg: { topic: string; registryUrl: string; registryUsername: string; registryPassword: string }): Promise<number> {
  const subject = `${cfg.topic}-value`;
  try {
    const id = await new SchemaRegistry({ url: cfg.registryUrl, username: cfg.registryUsername, password: cfg.registryPassword }).register(subject);
    log.info({ subject, id }, "schema registered");
    return id;
  } catch (e) {
    throw new Error(`cannot register the schema under ${subject} at SCHEMA_REGISTRY_URL ${cfg.registryUrl}: ${(e as Error).message}`);
  }
}
