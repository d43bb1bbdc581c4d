// deno run -A --unstable-net tests/_chaos_run.ts FROM TO [memory|tcp|tcp-linger|both]
import { type Backend, runScenario } from "./_chaos.ts";
const rejections: string[] = [];
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  rejections.push(
    String((e as PromiseRejectionEvent).reason?.stack ?? (e as PromiseRejectionEvent).reason),
  );
});
globalThis.addEventListener("error", (e) => {
  e.preventDefault();
  rejections.push("error event: " + String((e as ErrorEvent).error?.stack ?? e.message));
});
const from = Number(Deno.args[0] ?? 1), to = Number(Deno.args[1] ?? 100);
const which = Deno.args[2] ?? "both";
const backends: Backend[] = which === "both" ? ["memory", "tcp"] : [which as Backend];
let runs = 0, bad = 0;
const kinds: Record<string, number> = {};
const lostKinds: Record<string, number> = {};
for (let seed = from; seed <= to; seed++) {
  for (const backend of backends) {
    if (Deno.env.get("CX_PROGRESS")) console.error(`run ${seed} ${backend}`);
    const before = rejections.length;
    const res = await runScenario(seed, backend);
    await new Promise((r) => setTimeout(r, 0));
    runs++;
    kinds[res.kinds] = (kinds[res.kinds] ?? 0) + 1;
    for (const l of res.lost ?? []) {
      const k = l.replace(/\d+/g, "N");
      lostKinds[k] = (lostKinds[k] ?? 0) + 1;
    }
    const rej = rejections.slice(before);
    if (res.violations.length || rej.length) {
      bad++;
      console.log(`seed ${seed} ${backend} ${res.kinds}:`);
      for (const v of res.violations) console.log("   " + v.slice(0, 400));
      for (const v of rej) console.log("   unhandled: " + v.slice(0, 600));
    }
  }
}
console.log(`runs ${runs}, failing ${bad}`, JSON.stringify(kinds));
if (Deno.env.get("CX_LOST")) console.log(lostKinds);
