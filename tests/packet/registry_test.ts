import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  PacketRequest,
  type PacketRequestContext,
  PacketRequestRegistry,
  RemoteError,
} from "@plexus/net/packet";
import { bytes, connectedPair, text } from "./_helpers.ts";

/** The serving side's state: what `fulfil()` gets as its context. */
class Counter {
  value = 0;
  seen: { flags: number; channel: number }[] = [];
}

class AddRequest extends PacketRequest<number, Counter> {
  static readonly rqType = 3;
  constructor(readonly amount: number) {
    super();
  }
  static decode(payload: Uint8Array): AddRequest {
    return new AddRequest(new DataView(payload.buffer, payload.byteOffset).getInt32(0));
  }
  encode(): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setInt32(0, this.amount);
    return out;
  }
  override decodeResponse(payload: Uint8Array): number {
    return Number(text(payload));
  }
  fulfil(counter: Counter, request: PacketRequestContext): string {
    counter.value += this.amount;
    counter.seen.push({ flags: this.flags, channel: request.channel });
    return String(counter.value);
  }
}

class FailRequest extends PacketRequest<never, Counter> {
  static readonly rqType = 4;
  static decode(): FailRequest {
    return new FailRequest();
  }
  encode(): string {
    return "";
  }
  fulfil(): never {
    throw new RemoteError(2, "refused on purpose");
  }
}

class RawRequest extends PacketRequest {
  static readonly rqType = 5;
  static decode(payload: Uint8Array): RawRequest {
    return new RawRequest(text(payload));
  }
  constructor(readonly word: string) {
    super();
  }
  encode(): string {
    return this.word;
  }
  async fulfil(): Promise<[number, Uint8Array]> {
    await Promise.resolve();
    return [1, bytes(this.word.split("").reverse().join(""))];
  }
}

Deno.test("registry: typed requests on one side, dispatch on the other", async () => {
  const counter = new Counter();
  const registry = new PacketRequestRegistry<Counter>([AddRequest, FailRequest, RawRequest]);
  const [, client] = connectedPair({ requestHandler: registry.handler(counter) });
  assertEquals(await client.request(new AddRequest(5)), 5);
  const withFlags = new AddRequest(-2);
  withFlags.flags = 9;
  assertEquals(await client.request(withFlags), 3);
  assertEquals(counter.seen, [{ flags: 0, channel: 0 }, { flags: 9, channel: 0 }]);
  const error = await assertRejects(() => client.request(new FailRequest()), RemoteError);
  assertEquals([error.flags, error.text], [2, "refused on purpose"]);
  assertEquals(text(await client.request(new RawRequest("stressed"))), "desserts");
  // An rq_type the registry does not know gets the original's refusal.
  const unknown = await client.submit(99);
  assertEquals([unknown.ok, text(unknown.payload)], [false, "no request handler"]);
  await client.close();
});

Deno.test("registry: rq_types must be unique and valid", () => {
  const Other = { name: "Other", rqType: 3, decode: AddRequest.decode };
  assertThrows(
    () => new PacketRequestRegistry<Counter>([AddRequest, Other]),
    RangeError,
    "Cannot register Other: rq_type 3 already belongs to AddRequest",
  );
  const Bad = { name: "Bad", rqType: -1, decode: AddRequest.decode };
  assertThrows(() => new PacketRequestRegistry<Counter>([Bad]), RangeError, "rqType must be");
  assertEquals(new PacketRequestRegistry<Counter>([AddRequest]).get(3), AddRequest);
});

Deno.test("a request class without a static rqType is refused when sent", async () => {
  class NoType extends PacketRequest {
    encode(): string {
      return "";
    }
    fulfil(): void {}
  }
  const [, client] = connectedPair();
  await assertRejects(() => client.request(new NoType()), TypeError, "has no static rqType");
  await client.close();
});
