/** The one place a domain error becomes an HTTP answer: `{error, field}` with the kind's status. */
import type { Context } from "hono";
import type { Logger } from "../log.ts";
import { DomainError, type DomainErrorKind } from "../util/errors.ts";

const STATUS: Record<DomainErrorKind, 400 | 404 | 409 | 503> = {
  invalid: 400,
  "not-found": 404,
  conflict: 409,
  // The store changed but the kernel does not follow yet: a caller may retry.
  unavailable: 503,
};

export function httpStatus(kind: DomainErrorKind): 400 | 404 | 409 | 503 {
  return STATUS[kind];
}

/** The answer to a failed request: a domain error's own, else a 500 that is logged. */
export function errorHandler(log: Logger): (err: Error, c: Context) => Response {
  return (err, c) => {
    if (err instanceof DomainError) return c.json({ error: err.message, field: err.field }, httpStatus(err.kind));
    log.error("admin api failure", { path: c.req.path, err: String(err) });
    return c.json({ error: `internal error: ${String(err)}`, field: null }, 500);
  };
}
