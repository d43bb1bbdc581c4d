/**
 * One abort signal for a multi-step operation (connect, then handshake), fired by the caller's
 * signal or by a timeout, whichever comes first. The timer and listener are released by
 * `dispose()`.
 *
 * The race itself is std's `abortable`; the linking and the timeout stay ours: std's `deadline`
 * times out with a bare `DOMException` through `AbortSignal.timeout`, whose timer cannot be
 * cleared (a connect that succeeds in 1 ms would keep a 30 s timer per connection), and the
 * errors name what timed out (`Cannot connect to host:1: timed out after 5000 ms`).
 *
 * @module
 */

import { abortable as untypedAbortable } from "@std/async/abortable";
import { TransportError } from "./errors.ts";

/**
 * std's `abortable` for promises (untyped JS through the npm alias): settles as `promise` does,
 * or rejects with the signal's reason once it aborts.
 */
const abortable: <T>(promise: Promise<T>, signal: AbortSignal) => Promise<T> = untypedAbortable;

/** A linked abort signal with its timeout. */
export interface Cancellation {
  /** Aborts when the caller's signal does or the timeout passes. */
  readonly signal: AbortSignal;
  /** The error to reject with once aborted: the caller's reason, or a timeout error. */
  reason(): Error;
  /** Settles as `promise` does, or rejects with {@linkcode Cancellation.reason} on abort. */
  race<T>(promise: Promise<T>): Promise<T>;
  /** Releases the timer and the listener. */
  dispose(): void;
}

/**
 * Links the caller's signal and a timeout into one signal.
 *
 * @param signal The caller's signal, if any.
 * @param timeout Milliseconds before the timeout fires, if any.
 * @param timeoutMessage The message of the timeout error, e.g.
 * `Cannot connect to host:1: timed out after 5000 ms`.
 */
export function linkCancellation(
  signal: AbortSignal | undefined,
  timeout: number | undefined,
  timeoutMessage: string,
): Cancellation {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal!.reason);
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener("abort", onAbort, { once: true });
  if (timeout !== undefined && timeout !== Infinity && !controller.signal.aborted) {
    timer = setTimeout(() => {
      controller.abort(
        new TransportError(timeoutMessage, {
          cause: new DOMException("Timed out", "TimeoutError"),
        }),
      );
    }, timeout);
  }
  const reason = (): Error => {
    const r = controller.signal.reason;
    return r instanceof Error ? r : new DOMException(String(r), "AbortError");
  };
  return {
    signal: controller.signal,
    reason,
    race<T>(promise: Promise<T>): Promise<T> {
      const signal = controller.signal;
      // What std's abortable() leaves to us: a value (a connection) that arrives after the
      // abort is closed, not leaked; a reason that is no Error becomes one.
      promise.then((value) => {
        if (!signal.aborted) return;
        try {
          (value as { close?: () => void })?.close?.();
        } catch {
          // Closed already (a wrapper handing back the channel its caller closed on abort):
          // thrown here, it would be an unhandled rejection, which ends the process.
        }
      }, () => {});
      return abortable(promise, signal).catch((error: unknown) => {
        throw signal.aborted && error === signal.reason ? reason() : error;
      });
    },
    dispose(): void {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}
