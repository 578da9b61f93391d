/**
 * Structured logs on stderr for journald: logfmt by default, JSON with --log-format json.
 * `log.info("dhcp ack", {mac, ip})` → `level=info msg="dhcp ack" mac=… ip=…`.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function logfmtValue(v: unknown): string {
  const s = typeof v === "string" ? v : v instanceof Error ? v.message : (JSON.stringify(v) ?? "null");
  return /^[A-Za-z0-9_.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
}

export function createLogger(
  opts: {
    format?: "logfmt" | "json";
    level?: Level;
    write?: (line: string) => void;
    base?: Record<string, unknown>;
  } = {},
): Logger {
  const format = opts.format ?? "logfmt";
  const min = ORDER[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = opts.base ?? {};
  const emit = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < min) return;
    const all = { ...base, ...fields };
    if (format === "json") {
      write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...all }));
    } else {
      const kv = Object.entries(all).map(([k, v]) => `${k}=${logfmtValue(v)}`);
      write([`ts=${new Date().toISOString()}`, `level=${level}`, `msg=${logfmtValue(msg)}`, ...kv].join(" "));
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}
