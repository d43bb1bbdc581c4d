/** createConnection({ tls }) with a name Deno.startTls refuses closes its TCP socket. */

import { assertRejects, assertStringIncludes } from "@std/assert";
import { createConnection } from "@plexus/net/endpoints";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";

Deno.test("createConnection({ tls }) with a name Deno.startTls refuses closes its TCP socket", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const error = await assertRejects(() =>
    createConnection(() => new Recorder(), listener.addr, {
      tls: { caCerts: [tls.ca] },
      serverHostname: "my host", // e.g. from user input; "-bad.example" fails the same way
    })
  );
  assertStringIncludes((error as Error).message, "Invalid hostname");
  const conn = await accepted;
  // The client gave up: its socket must be closed, so the server reads EOF. A guard (not a
  // wait for an event) keeps the bug from hanging the test.
  const guard = setTimeout(() => conn.close(), 2000);
  let eof: boolean;
  try {
    eof = await conn.read(new Uint8Array(64)) === null;
  } catch {
    eof = false; // closed by the guard: the client's socket stayed open
  }
  clearTimeout(guard);
  try {
    conn.close();
  } catch {
    // closed by the guard
  }
  if (!eof) throw new Error("the client's TCP socket was left open");
});
