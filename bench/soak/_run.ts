/**
 * `deno task soak`: runs every hostile-peer soak in `bench/soak/` (full-size versions of the
 * cases `tests/hostile/` asserts scaled down), one after another, each in its own process and
 * bounded in time. Each prints its figures and exits non-zero when one misses its target; this
 * prints a summary line and fails if any did.
 */
const dir = new URL("./", import.meta.url);
const soaks: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.startsWith("_")) {
    soaks.push(entry.name);
  }
}
soaks.sort();
const only = Deno.args;
let failed = 0;
for (const name of soaks) {
  if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
  console.log(`== soak ${name}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(name, dir).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const { code } = await child.status;
  clearTimeout(timer);
  if (code !== 0) {
    failed++;
    console.log(`!! soak ${name} failed (exit ${code})`);
  }
}
console.log(`soak: ${soaks.length - failed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
