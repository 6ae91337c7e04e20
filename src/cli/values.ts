/**
 * The parsers of setting values (config.ts's table uses them): each turns the raw text into a value or throws
 * naming what is allowed (config.ts turns that into one ConfigError line).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "2m", "1h", "30d" (or "0") → milliseconds. */
export function parseDuration(raw: string): number {
  if (raw.trim() === "0") return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) throw new Error("a duration like 500ms, 30s, 2m, 1h, 30d");
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

export const duration = { parse: parseDuration, allowed: "a duration like 500ms, 30s, 2m, 1h, 30d" };

/** A window's length: at least a second (a 0 would make every event its own window, or none). */
export const windowLength = {
  allowed: "a duration of at least 1s, like 1m, 5m, 1h",
  parse(raw: string): number {
    const ms = parseDuration(raw);
    if (ms < 1000) throw new Error("a duration of at least 1s, like 1m, 5m, 1h");
    return ms;
  },
};

export function oneOf<const T extends string>(...values: T[]) {
  return {
    allowed: values.join(" | "),
    parse(raw: string): T {
      const v = raw.trim().toLowerCase();
      if (!(values as string[]).includes(v)) throw new Error(values.join(" | "));
      return v as T;
    },
  };
}

export const text = (allowed = "a non-empty string") => ({
  allowed,
  parse(raw: string) {
    if (!raw.trim()) throw new Error(allowed);
    return raw.trim();
  },
});

export const optionalText = { allowed: "any string (empty: off)", parse: (raw: string) => raw };

export const bool = {
  allowed: "true | false",
  parse(raw: string): boolean {
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["", "0", "false", "no", "off"].includes(v)) return false;
    throw new Error("true | false");
  },
};

export function hostPort(raw: string): string {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(raw);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error("host:port");
  return raw;
}

export const hostPorts = {
  allowed: "comma-separated host:port list",
  parse(raw: string): string[] {
    const list = raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (!list.length) throw new Error("");
    list.forEach(hostPort);
    return list;
  },
};

export const statusAddr = {
  allowed: "host:port, or off",
  parse(raw: string): { host: string; port: number } | null {
    if (raw.trim().toLowerCase() === "off") return null;
    hostPort(raw.trim());
    const i = raw.lastIndexOf(":");
    return { host: raw.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(raw.slice(i + 1)) };
  },
};

export function number(min: number, max: number, integer = true) {
  const allowed = `${integer ? "an integer" : "a number"} from ${min} to ${max}`;
  return {
    allowed,
    parse(raw: string): number {
      const n = Number(raw.trim());
      if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
        throw new Error(allowed);
      }
      return n;
    },
  };
}

/** CQL replication map, given as CQL or in the short forms "SimpleStrategy:3" and "NetworkTopologyStrategy:dc1=3,dc2=3". */
export const replication = {
  allowed: "SimpleStrategy:<rf> | NetworkTopologyStrategy:<dc>=<rf>,… | a CQL map {'class': …}",
  parse(raw: string): string {
    const v = raw.trim();
    if (/^\{.*'class'.*\}$/s.test(v)) return v;
    const simple = /^SimpleStrategy:(\d+)$/.exec(v);
    if (simple) return `{'class': 'SimpleStrategy', 'replication_factor': ${simple[1]}}`;
    const nts = /^NetworkTopologyStrategy:((?:[A-Za-z0-9_-]+=\d+,?)+)$/.exec(v);
    if (nts) {
      const dcs = nts[1]!.split(",").filter(Boolean).map((p) => p.split("=")).map(([dc, rf]) => `'${dc}': ${rf}`);
      return `{'class': 'NetworkTopologyStrategy', ${dcs.join(", ")}}`;
    }
    throw new Error(this.allowed);
  },
};

export const fraction = number(0, 1, false);

/** An ISO-8601 instant, or empty (no bound). */
export const instant = {
  allowed: "an ISO-8601 instant like 2026-11-22T00:00:00Z (empty: no bound)",
  parse(raw: string): number | null {
    if (raw.trim() === "") return null;
    const t = Date.parse(raw.trim());
    if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(raw.trim()) || Number.isNaN(t)) throw new Error(this.allowed);
    return t;
  },
};

export interface OffsetRange { partition: number; first: number; last: number }
/** "0:100-200,3:0-99" → ranges of source offsets, inclusive. */
export const offsetRanges = {
  allowed: "<partition>:<first>-<last>, comma-separated, e.g. 0:1200-1500,3:0-99 (empty: every offset)",
  parse(raw: string): OffsetRange[] {
    return raw.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
      const m = /^(\d+):(\d+)-(\d+)$/.exec(p);
      if (!m || Number(m[2]) > Number(m[3])) throw new Error(this.allowed);
      return { partition: Number(m[1]), first: Number(m[2]), last: Number(m[3]) };
    });
  },
};

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
/** "4MiB", "512KiB", "5KiB", "1048576" (ours, and Cassandra's data sizes) → bytes; NaN if not a size. */
export function parseSize(raw: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = SIZE_UNITS[m?.[2]?.toLowerCase() ?? "-"];
  return m && unit ? Number(m[1]) * unit : Number.NaN;
}

export const size = {
  allowed: "a size like 512KiB, 4MiB (64KiB to 256MiB)",
  parse(raw: string): number {
    const n = parseSize(raw);
    if (!(n >= 64 * 1024 && n <= 256 * 1024 ** 2)) throw new Error(this.allowed);
    return n;
  },
};

