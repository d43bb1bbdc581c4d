import { assertEquals, assertThrows } from "@std/assert";
import { parseAddress } from "../../endpoints/address.ts";

Deno.test("parseAddress: a host:port given as the hostname is refused", () => {
  assertThrows(
    () => parseAddress({ hostname: "localhost:80", port: 8080 }),
    TypeError,
    "not a host",
  );
});

Deno.test("parseAddress: a bracketed host with colons that is not IPv6 is refused", () => {
  assertThrows(() => parseAddress("[:]:80"), TypeError);
  assertThrows(() => parseAddress("[localhost:80]:8080"), TypeError);
});

Deno.test("parseAddress: IPv6 literals, with or without a zone, still parse", () => {
  assertEquals(parseAddress("[::1]:80"), { transport: "tcp", hostname: "::1", port: 80 });
  assertEquals(parseAddress({ hostname: "fe80::1%eth0", port: 1 }), {
    transport: "tcp",
    hostname: "fe80::1%eth0",
    port: 1,
  });
});

Deno.test("parseAddress: the hint for an IPv6 literal without a port brackets all of it", () => {
  // "::1" split as host ":" and port 1: the hint said "[:]:port".
  assertThrows(() => parseAddress("::1"), TypeError, '"[::1]:port"');
  assertThrows(() => parseAddress("2001:db8::1"), TypeError, '"[2001:db8::1]:port"');
});
