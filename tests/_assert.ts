/**
 * Typed views of the `@std/assert` functions whose narrowing tests rely on. The std package
 * comes from npm as untyped JS here, so its assertion signatures are given at this one place.
 */

import * as std from "@std/assert";

// deno-lint-ignore no-explicit-any
type Constructor = abstract new (...args: any[]) => unknown;

/** Asserts that `actual` is an instance of `expectedType`, and narrows it. */
export const assertInstanceOf: <T extends Constructor>(
  actual: unknown,
  expectedType: T,
  msg?: string,
) => asserts actual is InstanceType<T> = std.assertInstanceOf;

/** Asserts that `expr` is truthy, and narrows it. */
export const assert: (expr: unknown, msg?: string) => asserts expr = std.assert;
