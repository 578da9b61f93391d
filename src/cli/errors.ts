/** Exit codes: 0 ok, 1 runtime error, 2 usage error. */
export class UsageError extends Error {
  readonly exitCode = 2;
}
export class RuntimeError extends Error {
  readonly exitCode = 1;
}
