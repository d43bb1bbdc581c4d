import { RemoteError } from "./errors.ts";
import type { PacketRequestType } from "./request.ts";
import type { PacketRequestHandler } from "./types.ts";

/**
 * Maps rq_types to {@linkcode PacketRequest} classes and serves them (the original's
 * `HasPacketConnection` request map): its {@linkcode PacketRequestRegistry.handler} decodes
 * each request with its class's `decode(payload, flags)` and answers with
 * `request.fulfil(context, requestContext)`. An rq_type with no class is refused with the
 * original's `no request handler`.
 *
 * @typeParam C The context every request's `fulfil()` gets.
 *
 * @example Typed requests on one side, dispatch on the other
 * ```ts
 * import { PacketConnection, PacketRequest, PacketRequestRegistry } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * class Store {
 *   readonly items = new Map<string, string>();
 * }
 * class PutRequest extends PacketRequest<void, Store> {
 *   static readonly rqType = 0;
 *   constructor(readonly key: string, readonly value: string) {
 *     super();
 *   }
 *   static decode(payload: Uint8Array): PutRequest {
 *     const [key, value] = JSON.parse(new TextDecoder().decode(payload));
 *     return new PutRequest(key, value);
 *   }
 *   encode(): string {
 *     return JSON.stringify([this.key, this.value]);
 *   }
 *   override decodeResponse(): void {}
 *   fulfil(store: Store): void {
 *     store.items.set(this.key, this.value);
 *   }
 * }
 * class GetRequest extends PacketRequest<string | undefined, Store> {
 *   static readonly rqType = 1;
 *   constructor(readonly key: string) {
 *     super();
 *   }
 *   static decode(payload: Uint8Array): GetRequest {
 *     return new GetRequest(new TextDecoder().decode(payload));
 *   }
 *   encode(): string {
 *     return this.key;
 *   }
 *   override decodeResponse(payload: Uint8Array, flags: number): string | undefined {
 *     return flags === 1 ? new TextDecoder().decode(payload) : undefined;
 *   }
 *   fulfil(store: Store): [number, string] {
 *     const value = store.items.get(this.key);
 *     return value === undefined ? [0, ""] : [1, value];
 *   }
 * }
 *
 * const registry = new PacketRequestRegistry<Store>([PutRequest, GetRequest]);
 * const server = new PacketConnection({ requestHandler: registry.handler(new Store()) });
 * const client = new PacketConnection();
 * createMemoryTransportPair(server, client);
 * await client.request(new PutRequest("colour", "teal"));
 * assertEquals(await client.request(new GetRequest("colour")), "teal");
 * assertEquals(await client.request(new GetRequest("shape")), undefined);
 * await client.close();
 * ```
 */
export class PacketRequestRegistry<C> {
  readonly #types = new Map<number, PacketRequestType<C>>();

  /**
   * Creates a registry of request classes.
   *
   * @param types The request classes.
   * @throws {RangeError} When two classes share an rq_type, or one has no valid `rqType`.
   */
  constructor(types: Iterable<PacketRequestType<C>>) {
    for (const type of types) {
      const { rqType } = type;
      if (!Number.isSafeInteger(rqType) || rqType < 0) {
        throw new RangeError(
          `Cannot register ${type.name}: rqType must be a non-negative safe integer, got ${rqType}`,
        );
      }
      const existing = this.#types.get(rqType);
      if (existing) {
        throw new RangeError(
          `Cannot register ${type.name}: rq_type ${rqType} already belongs to ${existing.name}`,
        );
      }
      this.#types.set(rqType, type);
    }
  }

  /**
   * Returns the class registered for `rqType`.
   *
   * @param rqType The request type.
   * @returns The class, or `undefined`.
   */
  get(rqType: number): PacketRequestType<C> | undefined {
    return this.#types.get(rqType);
  }

  /**
   * Makes a request handler that decodes and fulfils the registered requests with `context`.
   *
   * @param context What each request's `fulfil()` gets (the serving object).
   * @returns The handler, for the `requestHandler` option.
   */
  handler(context: C): PacketRequestHandler {
    return (rqType, flags, payload, requestContext) => {
      const type = this.#types.get(rqType);
      if (!type) throw new RemoteError(0, "no request handler");
      const request = type.decode(payload, flags);
      request.flags = flags;
      return request.fulfil(context, requestContext);
    };
  }
}
