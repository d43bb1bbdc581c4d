import { assertEquals } from "@std/assert";
import { type Backend, runScenario } from "./_chaos.ts";

/**
 * The cross-stack chaos fuzzer (tests/_chaos.ts), bounded: a few hundred seeded scenarios
 * over the in-memory pair and real TCP. More seeds: `deno run -A --unstable-net
 * tests/_chaos_run.ts FROM TO [memory|tcp|tcp-linger|both]`.
 */
async function fuzz(backend: Backend, from: number, to: number): Promise<void> {
  const unhandled: string[] = [];
  const onRejection = (event: PromiseRejectionEvent): void => {
    event.preventDefault();
    unhandled.push(String(event.reason?.stack ?? event.reason));
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  const failures: string[] = [];
  try {
    for (let seed = from; seed <= to; seed++) {
      const before = unhandled.length;
      const result = await runScenario(seed, backend);
      await new Promise((resolve) => setTimeout(resolve, 0));
      const found = [
        ...result.violations,
        ...unhandled.slice(before).map((u) => `unhandled: ${u}`),
      ];
      if (found.length > 0) failures.push(`seed ${seed} (${result.kinds}): ${found.join("; ")}`);
    }
  } finally {
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
  assertEquals(failures, []);
}

Deno.test("cross-stack fuzz: in-memory pair, 100 seeds", () => fuzz("memory", 1, 100));

Deno.test("cross-stack fuzz: TCP on 127.0.0.1, 60 seeds", () => fuzz("tcp", 1, 60));

Deno.test("cross-stack fuzz: TCP with lingering closes, 40 seeds", () => fuzz("tcp-linger", 1, 40));
