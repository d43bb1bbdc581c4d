/** Errors as one short line: what failed and why, in words a user reads at a shell. */

import { CliError, UsageError } from "./_args.ts";

/** Exit codes, as ncat's: 0 success, 1 a network or other error, 2 a usage error. */
export const EXIT_OK = 0;
/** A network or other runtime error. */
export const EXIT_ERROR = 1;
/** A usage error (bad option, missing argument). */
export const EXIT_USAGE = 2;

/** Short reasons for Deno's error classes. */
const REASONS: readonly [new (...args: never[]) => Error, string][] = [
  [Deno.errors.ConnectionRefused, "connection refused"],
  [Deno.errors.ConnectionReset, "connection reset by peer"],
  [Deno.errors.ConnectionAborted, "connection aborted"],
  [Deno.errors.TimedOut, "timed out"],
  [Deno.errors.AddrInUse, "address already in use"],
  [Deno.errors.AddrNotAvailable, "address not available"],
  [Deno.errors.NotFound, "no such file or host"],
  [Deno.errors.PermissionDenied, "permission denied"],
  [Deno.errors.BrokenPipe, "broken pipe"],
  [Deno.errors.NotConnected, "not connected"],
];

/**
 * Why `error` happened, in a few lowercase words: the innermost Deno error's short reason
 * when there is one (`connection refused`), else the innermost message without its
 * `(os error N)` and the "Cannot ...: " prefixes the library adds.
 */
export function reason(error: unknown): string {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    for (const [type, text] of REASONS) if (e instanceof type) return text;
    e = e.cause;
  }
  let message = error instanceof Error ? error.message : String(error);
  // "Cannot connect to x: TLS handshake failed: invalid peer certificate: UnknownIssuer"
  message = message.replace(/^Cannot (connect to|listen on|bind UDP socket to) \S+: /, "")
    .replace(/\s*\(os error \d+\)$/, "");
  // Sentence case to lowercase, but not an acronym ("TLS handshake failed").
  return /^[A-Z][a-z]/.test(message) ? message.charAt(0).toLowerCase() + message.slice(1) : message;
}

/** Writes `plexus: <line>` to stderr. */
export function printError(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`plexus: ${line}\n`));
}

/**
 * Reports an error thrown by a command and returns its exit code: 2 for a
 * {@linkcode UsageError} (with a pointer to `--help`), else 1.
 */
export function report(error: unknown, command: string): number {
  if (error instanceof UsageError) {
    printError(`${error.message}\nTry 'plexus ${command} --help'.`.trimStart());
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    printError(error.message);
    return EXIT_ERROR;
  }
  printError(reason(error));
  return EXIT_ERROR;
}

/** Wraps a connect failure: `cannot connect to 127.0.0.1:9: connection refused`. */
export function connectError(label: string, error: unknown): CliError {
  return new CliError(`cannot connect to ${label}: ${reason(error)}`, { cause: error });
}

/** Wraps a listen failure: `cannot listen on 127.0.0.1:80: permission denied`. */
export function listenError(label: string, error: unknown): CliError {
  return new CliError(`cannot listen on ${label}: ${reason(error)}`, { cause: error });
}
