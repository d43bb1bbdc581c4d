/** A small argument parser for the CLI: `--flag`, `--flag value`, `--flag=value`, positionals. */

/** A usage mistake: the CLI prints it with a pointer to `--help` and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure the CLI reports as one line and exits with 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** What a command accepts: flags with a value, boolean flags, and short aliases. */
export interface FlagSpec {
  /** Flags that take a value (`--framer line`). */
  values: readonly string[];
  /** Flags that take none (`--hex`). */
  booleans: readonly string[];
  /** Short names (`-u` for `--udp`). */
  aliases?: Readonly<Record<string, string>>;
  /**
   * Flags whose value is optional and only ever given with `=` (`--trace`, `--trace=hex`):
   * alone they are set to `""`.
   */
  optionals?: readonly string[];
}

/** Parsed arguments: positionals in order, and the flags given. */
export interface ParsedArgs {
  positionals: string[];
  values: Map<string, string>;
  booleans: Set<string>;
}

/**
 * Parses `args` against `spec`. `--` ends the flags; `-` alone is a positional (stdin).
 *
 * @throws {UsageError} For an unknown flag or a value flag without a value.
 */
export function parseArgs(args: readonly string[], spec: FlagSpec): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], values: new Map(), booleans: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    let name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!name.startsWith("--")) name = spec.aliases?.[name] ?? name;
    const key = name.replace(/^--?/, "");
    if (spec.optionals?.includes(key)) {
      parsed.values.set(key, eq > 0 ? arg.slice(eq + 1) : "");
    } else if (spec.booleans.includes(key)) {
      if (eq > 0) throw new UsageError(`option --${key} takes no value`);
      parsed.booleans.add(key);
    } else if (spec.values.includes(key)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`option --${key} needs a value`);
      parsed.values.set(key, value);
    } else {
      throw new UsageError(`unknown option ${name}`);
    }
  }
  return parsed;
}

/**
 * Reads an integer flag.
 *
 * @throws {UsageError} When it is not an integer in `[min, max]`.
 */
export function intFlag(
  args: ParsedArgs,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = args.values.get(name);
  if (raw === undefined) return fallback;
  const value = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/**
 * Reads a duration flag: `500ms`, `2s`, `1m`, or a bare number of seconds; in milliseconds.
 *
 * @throws {UsageError} When it does not parse, or is under `min` or over `max` ms.
 */
export function durationFlag(
  args: ParsedArgs,
  name: string,
  fallback: number,
  max: number,
  min = 0,
): number {
  const raw = args.values.get(name);
  if (raw === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw);
  if (!match) {
    throw new UsageError(`--${name} must be a duration like 500ms, 5s or 1m, got "${raw}"`);
  }
  const unit = match[2] ?? "s";
  const ms = Number(match[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000);
  if (ms > max) throw new UsageError(`--${name} must be at most ${max / 1000} s, got "${raw}"`);
  if (ms < min) throw new UsageError(`--${name} must be at least ${min} ms, got "${raw}"`);
  return ms;
}
