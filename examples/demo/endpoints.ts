/**
 * The endpoints part of the demo: one Tendril-style application served over TCP (line frames)
 * and UDP (one datagram, one frame), and a tinyproto echo. Everything on loopback.
 */

import {
  Application,
  TcpTendrilManager,
  type Tendril,
  TinyprotoClient,
  TinyprotoServer,
  UdpTendrilManager,
} from "@plexus/net/endpoints";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The served application: answers each frame with its reverse, over any protocol. */
class Reverser extends Application {
  frameReceived(frame: Uint8Array): void {
    this.sendFrame(encoder.encode([...decoder.decode(frame)].reverse().join("")));
  }
}

/** A client application that resolves with the first frame it gets. */
class Asker extends Application {
  readonly answer = Promise.withResolvers<string>();
  frameReceived(frame: Uint8Array): void {
    this.answer.resolve(decoder.decode(frame));
  }
}

/** Runs the endpoints demo, logging each step; closes everything it opens. */
export async function endpointsDemo(log: (line: string) => void): Promise<void> {
  const serve = (tendril: Tendril): Application => new Reverser(tendril);
  const ask = (tendril: Tendril): Application => new Asker(tendril);

  for (const Manager of [TcpTendrilManager, UdpTendrilManager]) {
    const server = new Manager("127.0.0.1:0");
    await server.start(serve);
    const client = new Manager("127.0.0.1:0");
    await client.start();
    const tendril = await client.connect(server.localAddress!, ask);
    tendril!.sendFrame(encoder.encode("plexus"));
    const answer = await (tendril!.application as Asker).answer.promise;
    log(
      `${tendril!.proto}: the reverser on port ${server.localAddress!.port} answered ` +
        `"${answer}" (${server.tendrils.size} tendril(s) served)`,
    );
    await client.shutdown();
    await server.shutdown();
  }

  await using server = new TinyprotoServer(() => ({
    transmissionReceived: (message, connection) => {
      connection.send(encoder.encode(`Echo back: ${decoder.decode(message)}`)).catch(() => {});
    },
  }));
  const [address] = await server.listen("127.0.0.1:0");
  const reply = Promise.withResolvers<string>();
  await using client = new TinyprotoClient(() => ({
    transmissionReceived: (message) => reply.resolve(decoder.decode(message)),
  }));
  const connection = await client.connectTo(address);
  await connection.send(encoder.encode("hello tinyproto"));
  log(`tinyproto: size, ff, payload; the server said "${await reply.promise}"`);
}
