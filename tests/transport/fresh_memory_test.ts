import { assert, assertEquals } from "@std/assert";
import { freshBlock, KEEP_FREED } from "../../transport/_fresh_memory.ts";

Deno.test("freshBlock returns a zeroed buffer of the size, a new one each time", () => {
  const a = freshBlock(1000);
  const b = freshBlock(1000);
  assertEquals(a.byteLength, 1000);
  assert(a !== b);
  assert(new Uint8Array(a).every((x) => x === 0));
  assertEquals(KEEP_FREED, 16 * 1024 * 1024);
});

/**
 * The script below allocates 64 blocks of ~256 KiB (a burst of receive blocks), touches every
 * page, frees them all at once (as a collection does), and counts the page faults of two more
 * such cycles: with `freshBlock`, glibc keeps the freed burst in its heap and the next cycles
 * reuse it; with plain `new ArrayBuffer`, glibc returns the burst to the kernel and every
 * cycle faults its pages in again.
 */
const SCRIPT = `
import { freshBlock } from ${
  JSON.stringify(new URL("../../transport/_fresh_memory.ts", import.meta.url).href)
};
const allocate = Deno.args[0] === "fresh" ? freshBlock : (n) => new ArrayBuffer(n);
const faults = () => {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
};
const cycle = () => {
  const blocks = [];
  for (let i = 0; i < 64; i++) {
    const block = new Uint8Array(allocate(256 * 1024 + 68 * i));
    for (let at = 0; at < block.length; at += 4096) block[at] = 1;
    blocks.push(block);
  }
  for (const block of blocks) block.buffer.transfer(0);
};
cycle();
const before = faults();
cycle();
cycle();
console.log(faults() - before);
`;

/** Runs the script with `mode`; resolves with the page faults of its last two cycles. */
async function faultsOf(mode: "fresh" | "plain"): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-", mode],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(SCRIPT));
  await writer.close();
  const { success, stdout } = await child.output();
  assert(success, `the ${mode} script failed`);
  return Number(new TextDecoder().decode(stdout).trim());
}

/**
 * Whether this is Linux with glibc and its dynamic thresholds on (any of glibc's own settings
 * turns them off).
 */
function glibc(): boolean {
  return Deno.build.target.endsWith("-linux-gnu") &&
    !Object.keys(Deno.env.toObject()).some((name) => name.startsWith("MALLOC_"));
}

Deno.test({
  name: "after freshBlock, a burst of freed blocks is reused rather than faulted in again (glibc)",
  ignore: !glibc(),
  async fn() {
    const plain = await faultsOf("plain");
    const fresh = await faultsOf("fresh");
    // Two cycles of 64 blocks of 64+ pages: ~8 200 faults when each burst goes back to the
    // kernel; about a hundred when it is reused.
    assert(plain > 4000, `plain blocks faulted ${plain} times: the burst was kept anyway`);
    assert(fresh < plain / 10, `fresh blocks faulted ${fresh} times against ${plain}`);
  },
});
