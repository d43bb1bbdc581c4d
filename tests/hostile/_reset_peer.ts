/**
 * A peer that resets: a separate Python process connects to 127.0.0.1:`port`, waits for one
 * byte (our go-ahead, so the reset meets a read in flight), sends `bytes` if any, and closes
 * with `SO_LINGER` 0 (an RST, not a FIN).
 */
export function resetPeer(port: number, bytes: number[] = []): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, struct
s = socket.create_connection(("127.0.0.1", ${port}))
s.recv(1)
s.sendall(bytes(${JSON.stringify(bytes)}))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()`,
    ],
    stdout: "null",
  }).spawn();
}
