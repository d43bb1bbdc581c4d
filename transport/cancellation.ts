/**
 * One abort signal for a multi-step operation (connect, then handshake), fired by the caller's
 * signal or by a timeout, whichever comes first. The timer and listener are released by
 * `dispose()`.
 *
 * @module
 */

import { TransportError } from "./errors.ts";

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
      if (controller.signal.aborted) {
        promise.then((value) => (value as { close?: () => void })?.close?.(), () => {});
        return Promise.reject(reason());
      }
      return new Promise<T>((resolve, reject) => {
        const abort = (): void => reject(reason());
        controller.signal.addEventListener("abort", abort, { once: true });
        promise.then((value) => {
          controller.signal.removeEventListener("abort", abort);
          if (controller.signal.aborted) (value as { close?: () => void })?.close?.();
          resolve(value);
        }, (error) => {
          controller.signal.removeEventListener("abort", abort);
          reject(error);
        });
      });
    },
    dispose(): void {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}
