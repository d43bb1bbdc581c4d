/**
 * The transport part of the demo: TCP echo, TLS with ALPN, STARTTLS and UDP, each a server
 * and a client on loopback in this process.
 */

import {
  createConnection,
  createDatagramEndpoint,
  createServer,
  openConnection,
} from "@plexus/net/endpoints";
import { DatagramProtocolAdapter, ProtocolAdapter } from "@plexus/net/protocol";
import type { StreamTransport } from "@plexus/net/transport";

const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Echoes every chunk back. */
class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

/** Collects what arrives and resolves `done` at the peer's EOF. */
class Collector extends ProtocolAdapter {
  text = "";
  readonly done = Promise.withResolvers<string>();
  override dataReceived(data: Uint8Array): void {
    this.text += decoder.decode(data, { stream: true });
  }
  override eofReceived(): boolean {
    this.done.resolve(this.text);
    return false;
  }
}

/** Runs the transport demo, logging each step. */
export async function transportDemo(log: (line: string) => void): Promise<void> {
  const tls = {
    ca: await Deno.readTextFile(new URL("ca.pem", fixtures)),
    cert: await Deno.readTextFile(new URL("leaf.pem", fixtures)),
    key: await Deno.readTextFile(new URL("leaf.key", fixtures)),
  };

  // TCP echo with a protocol, then the same through Web Streams.
  {
    await using server = await createServer(() => new Echo(), "127.0.0.1:0");
    const [address] = server.addresses as Deno.NetAddr[];
    log(`tcp: echo server on 127.0.0.1:${address.port}`);
    const { transport, protocol } = await createConnection(() => new Collector(), address);
    transport.write(encoder.encode("hello over TCP"));
    transport.writeEof(); // half-close: the echo still answers
    log(`tcp: sent "hello over TCP" + EOF, got back "${await protocol.done.promise}"`);
    await transport.closed;

    const { readable, writable } = await openConnection(address);
    await new Blob(["hello ", "through ", "Web Streams"]).stream().pipeTo(writable);
    log(`tcp: Web Streams round trip: "${await new Response(readable).text()}"`);
  }

  // TLS with the test CA, ALPN negotiated.
  {
    await using server = await createServer(() => new Echo(), "127.0.0.1:0", {
      tls: { cert: tls.cert, key: tls.key, alpnProtocols: ["plexus-demo/1"] },
    });
    const [address] = server.addresses as Deno.NetAddr[];
    const { transport, protocol } = await createConnection(() => new Collector(), address, {
      tls: { caCerts: [tls.ca], alpnProtocols: ["plexus-demo/1"] },
    });
    transport.write(encoder.encode("hello over TLS"));
    transport.writeEof();
    const reply = await protocol.done.promise;
    log(
      `tls: verified ${transport.getExtraInfo("serverHostname")}, ALPN ` +
        `"${transport.getExtraInfo("alpnProtocol")}", echo "${reply}"`,
    );
    await transport.closed;
  }

  // STARTTLS: plaintext first, then both sides upgrade in the middle of the stream.
  {
    class StartTlsServer extends ProtocolAdapter {
      override dataReceived(data: Uint8Array): void {
        const line = decoder.decode(data);
        const transport = this.transport as StreamTransport;
        if (line === "STARTTLS\n") {
          transport.write(encoder.encode("READY\n"));
          transport.startTls({ serverSide: true, cert: tls.cert, key: tls.key }).catch(() => {});
        } else {
          transport.write(encoder.encode(`encrypted echo: ${line}`));
        }
      }
    }
    class StartTlsClient extends ProtocolAdapter {
      readonly upgraded = Promise.withResolvers<void>();
      readonly reply = Promise.withResolvers<string>();
      override dataReceived(data: Uint8Array): void {
        const text = decoder.decode(data);
        if (text !== "READY\n") return this.reply.resolve(text.trim());
        const transport = this.transport as StreamTransport;
        transport.startTls({ caCerts: [tls.ca], serverHostname: "localhost" })
          .then(this.upgraded.resolve, this.upgraded.reject);
      }
    }
    await using server = await createServer(() => new StartTlsServer(), "127.0.0.1:0");
    const { transport, protocol } = await createConnection(
      () => new StartTlsClient(),
      server.addresses[0],
    );
    transport.write(encoder.encode("STARTTLS\n"));
    await protocol.upgraded.promise;
    transport.write(encoder.encode("secret\n"));
    log(`starttls: upgraded to TLS mid-stream; got "${await protocol.reply.promise}"`);
    transport.close();
    await transport.closed;
    server.closeClients();
  }

  // UDP echo.
  {
    class UdpEcho extends DatagramProtocolAdapter {
      override datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
        this.transport!.sendto(data, addr);
      }
    }
    class UdpClient extends DatagramProtocolAdapter {
      readonly reply = Promise.withResolvers<string>();
      override datagramReceived(data: Uint8Array): void {
        this.reply.resolve(decoder.decode(data));
      }
    }
    const server = await createDatagramEndpoint(() => new UdpEcho(), {
      localAddress: "127.0.0.1:0",
    });
    const serverAddress = server.transport.getExtraInfo("sockname") as Deno.NetAddr;
    const client = await createDatagramEndpoint(() => new UdpClient(), {
      remoteAddress: serverAddress,
    });
    client.transport.sendto(encoder.encode("hello over UDP"));
    log(
      `udp: echo on 127.0.0.1:${serverAddress.port} answered "${await client.protocol.reply
        .promise}"`,
    );
    client.transport.close();
    server.transport.close();
    await Promise.all([client.transport.closed, server.transport.closed]);
  }
}
