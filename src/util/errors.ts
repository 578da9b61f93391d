/**
 * Domain errors: what went wrong in the product's terms (a thing is missing, clashes with the
 * state, is badly formed, or cannot be served right now) and which input field it concerns.
 * The store, the IPAM and the API throw them; only the admin API turns a kind into an HTTP
 * status (src/api/errors.ts), so the layers below never speak HTTP.
 */
export type DomainErrorKind = "not-found" | "conflict" | "invalid" | "unavailable";

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** The request field at fault (API body key or CLI option), when there is one. */
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export const notFound = (what: string, field: string | null = null) =>
  new DomainError("not-found", `${what} not found`, field);
export const conflict = (message: string, field: string | null = null) => new DomainError("conflict", message, field);
export const invalid = (message: string, field: string | null = null) => new DomainError("invalid", message, field);
export const unavailable = (message: string, field: string | null = null) =>
  new DomainError("unavailable", message, field);

export function isDomainError(err: unknown, kind?: DomainErrorKind): err is DomainError {
  return err instanceof DomainError && (kind === undefined || err.kind === kind);
}
