// The Node arms of the whole-process benchmarks: `node bench/_node.mjs ROLE WORKLOAD node
// PARAMS [PORT]`, speaking the harness's line protocol (see `_harness.ts`): a server prints
// "port N" and exits when stdin closes; a client warms up, prints "ready", runs on "go", prints
// "done <ms>" and exits when stdin closes. Written lean: `net`/`dgram` with no per-frame copies
// beyond what the API forces.

import net from "node:net";
import dgram from "node:dgram";
import { performance } from "node:perf_hooks";

const [role, workload, , paramsText, portText] = process.argv.slice(2);
const p = JSON.parse(paramsText);
const port = Number(portText);
const HOST = "127.0.0.1";

let stdinText = "";
const stdinWaiters = [];
let stdinEnded = false;
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text) => {
  stdinText += text;
  while (stdinText.includes("\n") && stdinWaiters.length) {
    const at = stdinText.indexOf("\n");
    const line = stdinText.slice(0, at);
    stdinText = stdinText.slice(at + 1);
    stdinWaiters.shift()(line);
  }
});
process.stdin.on("end", () => {
  stdinEnded = true;
  for (const waiter of stdinWaiters.splice(0)) waiter(null);
});

function nextLine() {
  return new Promise((resolve) => {
    if (stdinText.includes("\n")) {
      const at = stdinText.indexOf("\n");
      const line = stdinText.slice(0, at);
      stdinText = stdinText.slice(at + 1);
      resolve(line);
    } else if (stdinEnded) resolve(null);
    else stdinWaiters.push(resolve);
  });
}

function serverMain(listeningPort) {
  process.stdout.write(`port ${listeningPort}\n`);
  process.stdin.on("end", () => process.exit(0));
}

async function clientMain(prepare) {
  const work = await prepare();
  process.stdout.write("ready\n");
  if ((await nextLine()) !== "go") process.exit(1);
  const start = performance.now();
  await work();
  process.stdout.write(`done ${(performance.now() - start).toFixed(3)}\n`);
  while ((await nextLine()) !== null);
  process.exit(0);
}

function tcpServer(onSocket, options = {}) {
  const server = net.createServer({ noDelay: true, ...options }, onSocket);
  server.listen({ host: HOST, port: 0, backlog: 4096 }, () => serverMain(server.address().port));
}

function connect() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, noDelay: true }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function echoServer() {
  tcpServer((socket) => {
    socket.on("data", (data) => socket.write(data));
    socket.on("error", () => {});
  });
}

// ---- bulk ----------------------------------------------------------------------------------

function bulkServer() {
  tcpServer((socket) => {
    let got = 0;
    socket.on("data", (data) => got += data.length);
    socket.on("end", () => socket.end(Buffer.from([1])));
    socket.on("error", () => {});
  }, { allowHalfOpen: true });
}

async function bulkSend(bytes, chunk) {
  const socket = await connect();
  await new Promise((resolve, reject) => {
    socket.once("data", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
    let sent = 0;
    const produce = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return socket.once("drain", produce);
      }
      socket.end();
    };
    produce();
  });
}

function bulkClient() {
  const chunk = Buffer.alloc(256 * 1024);
  return clientMain(async () => {
    await bulkSend(p.warm, chunk);
    return () => bulkSend(p.bytes, chunk);
  });
}

// ---- ping-pong -----------------------------------------------------------------------------

function pingClient(message, pings) {
  return clientMain(async () => {
    const socket = await connect();
    const msg = Buffer.alloc(message);
    let left = 0;
    let got = 0;
    let done;
    socket.on("data", (data) => {
      got += data.length;
      if (got < message) return;
      got -= message;
      if (--left > 0) socket.write(msg);
      else done();
    });
    const rounds = (n) =>
      new Promise((resolve) => {
        left = n;
        done = resolve;
        socket.write(msg);
      });
    await rounds(p.warm);
    return () => rounds(pings);
  });
}

// ---- UDP -----------------------------------------------------------------------------------

function udpServer() {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (data, from) => socket.send(data, from.port, from.address));
  socket.bind(0, HOST, () => serverMain(socket.address().port));
}

function udpClient() {
  return clientMain(() =>
    new Promise((ready) => {
      const socket = dgram.createSocket("udp4");
      const message = Buffer.alloc(64);
      let sent = 0;
      let received = 0;
      let count = 0;
      let done;
      const send = () => {
        sent++;
        socket.send(message, port, HOST);
      };
      const fill = () => {
        while (sent < count && sent - received < p.window) send();
      };
      socket.on("message", () => {
        if (++received >= count) done();
        else if (sent < count) send();
      });
      const run = (n) =>
        new Promise((resolve) => {
          sent = received = 0;
          count = n;
          let seen = -1;
          const timer = setInterval(() => {
            if (received === seen) {
              console.error(`udp: ${sent - received} datagrams lost (counted after 100 ms)`);
              sent = received;
              fill();
            }
            seen = received;
          }, 100);
          done = () => {
            clearInterval(timer);
            resolve();
          };
          fill();
        });
      socket.bind(0, HOST, () => run(p.warm).then(() => ready(() => run(p.count))));
    })
  );
}

// ---- frames: u32 BE length + payload ---------------------------------------------------------

/** Calls onFrame(buffer, from, to) per whole frame; keeps a partial frame for the next chunk. */
/** Echoes the whole u32-length frames of each chunk in one write, as views of the chunk. */
function echoWholeFrames(socket) {
  let chunk;
  let first = -1;
  let last = -1;
  const read = frameReader((buffer, from, to) => {
    if (buffer !== chunk) {
      if (first >= 0) socket.write(chunk.subarray(first, last));
      chunk = buffer;
      first = from - 4;
    }
    last = to;
  });
  socket.on("data", (data) => {
    first = last = -1;
    chunk = undefined;
    read(data);
    if (first >= 0) socket.write(chunk.subarray(first, last));
  });
  socket.on("error", () => {});
}

function frameReader(onFrame) {
  let rest = null;
  return (chunk) => {
    let buffer = chunk;
    if (rest) {
      buffer = Buffer.concat([rest, chunk]);
      rest = null;
    }
    let at = 0;
    while (buffer.length - at >= 4) {
      const size = 4 + buffer.readUInt32BE(at);
      if (buffer.length - at < size) break;
      onFrame(buffer, at + 4, at + size);
      at += size;
    }
    if (at < buffer.length) rest = buffer.subarray(at);
  };
}

function framesServer() {
  // Echo the whole frames of each chunk in one write (a view of the chunk: no copy).
  tcpServer(echoWholeFrames);
}

function framesClient() {
  return clientMain(async () => {
    const socket = await connect();
    const size = 4 + p.payload;
    const perBlock = Math.floor(65536 / size);
    const payload = Buffer.alloc(p.payload, 0x61);
    let toSend = 0;
    let toReceive = 0;
    let done;
    socket.on(
      "data",
      frameReader(() => {
        if (--toReceive === 0) done();
      }),
    );
    const produce = () => {
      while (toSend > 0) {
        const k = Math.min(perBlock, toSend);
        const block = Buffer.allocUnsafe(k * size); // socket.write keeps it until sent
        for (let i = 0, at = 0; i < k; i++, at += size) {
          block.writeUInt32BE(p.payload, at);
          payload.copy(block, at + 4);
        }
        toSend -= k;
        if (!socket.write(block)) return socket.once("drain", produce);
      }
    };
    const run = (n) =>
      new Promise((resolve) => {
        toSend = toReceive = n;
        done = resolve;
        produce();
      });
    await run(p.warm);
    return () => run(p.frames);
  });
}

// ---- RPC: u32 BE length, u32 tag, payload ----------------------------------------------------

function rpcServer() {
  // A reply is the request itself: echo the whole frames of each chunk in one write.
  tcpServer(echoWholeFrames);
}

async function drive(n, inFlight, call) {
  let left = n;
  const worker = async () => {
    while (left > 0) {
      left--;
      await call();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
}

function rpcClient() {
  return clientMain(async () => {
    const socket = await connect();
    const payload = Buffer.alloc(p.payload, 0x61);
    const mask = 1023;
    const resolvers = new Array(mask + 1);
    let nextTag = 0;
    socket.cork();
    let corked = true;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.on(
      "data",
      frameReader((buffer, from, to) => {
        const tag = buffer.readUInt32BE(from);
        const resolve = resolvers[tag & mask];
        resolvers[tag & mask] = undefined;
        resolve(buffer.subarray(from + 4, to));
      }),
    );
    const call = () => {
      const tag = nextTag;
      nextTag = (nextTag + 1) >>> 0;
      const frame = Buffer.allocUnsafe(8 + payload.length);
      frame.writeUInt32BE(4 + payload.length, 0);
      frame.writeUInt32BE(tag, 4);
      payload.copy(frame, 8);
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      socket.write(frame);
      return new Promise((resolve) => resolvers[tag & mask] = resolve);
    };
    uncork();
    await drive(p.warm, p.inFlight, call);
    return () => drive(p.requests, p.inFlight, call);
  });
}

// ---- connections ---------------------------------------------------------------------------

async function pinger() {
  const socket = await connect();
  const msg = Buffer.alloc(32);
  let left = 0;
  let got = 0;
  let done;
  socket.on("data", (data) => {
    got += data.length;
    if (got < 32) return;
    got -= 32;
    if (--left > 0) socket.write(msg);
    else done();
  });
  return {
    rounds: (n) =>
      new Promise((resolve) => {
        left = n;
        done = resolve;
        socket.write(msg);
      }),
    close: () => socket.destroy(),
  };
}

function connsClient() {
  const once = async () => {
    const peer = await pinger();
    await peer.rounds(p.pings);
    peer.close();
  };
  const concurrent = (count) => Promise.all(Array.from({ length: count }, once));
  const hold = async (count) => {
    const held = [];
    for (let i = 0; i < count; i += 500) {
      const batch = await Promise.all(Array.from({ length: Math.min(500, count - i) }, pinger));
      await Promise.all(batch.map((peer) => peer.rounds(1)));
      held.push(...batch);
    }
  };
  return clientMain(async () => {
    for (let left = p.warm; left > 0; left -= 1000) await concurrent(Math.min(left, 1000));
    return async () => {
      if (p.hold) return await hold(p.conns);
      for (let wave = 0; wave < (p.waves ?? 1); wave++) await concurrent(p.conns);
    };
  });
}

// ---- entry ---------------------------------------------------------------------------------

const servers = {
  bulk: bulkServer,
  ping: echoServer,
  udp: udpServer,
  frames: framesServer,
  rpc: rpcServer,
  conns: echoServer,
};
const clients = {
  bulk: bulkClient,
  ping: () => pingClient(32, p.rounds),
  udp: udpClient,
  frames: framesClient,
  rpc: rpcClient,
  conns: connsClient,
};
(role === "server" ? servers : clients)[workload]();
