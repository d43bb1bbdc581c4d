import { assertEquals } from "@std/assert";
import { MAX_MESSAGE_SIZE, startSmtpServer } from "../../examples/smtp_server.ts";

const CLIENT = `
import smtplib, sys
port = int(sys.argv[1])
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    s.sendmail("alice@example.com", ["bob@example.com", "carol@example.com"],
               "Subject: hi\\r\\n\\r\\nline one\\r\\n.starts with a dot\\r\\n..two dots\\r\\n.\\r\\nlast line")
    s.sendmail("bob@example.com", ["alice@example.com"], "Subject: again\\r\\n\\r\\nshort\\r\\n")
print("sent")
`;

Deno.test("SMTP-like example server receives mail from Python's smtplib over 127.0.0.1", async () => {
  const server = await startSmtpServer();
  try {
    // smtplib's own 10 s socket timeout bounds the client.
    const result = await new Deno.Command("python3", {
      args: ["-c", CLIENT, String(server.port)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assertEquals(result.code, 0, stderr);
    assertEquals(new TextDecoder().decode(result.stdout).trim(), "sent");
  } finally {
    await server.close();
  }
  const messages = server.messages.map((m) => ({ ...m, data: new TextDecoder().decode(m.data) }));
  assertEquals(messages, [
    {
      from: "alice@example.com",
      to: ["bob@example.com", "carol@example.com"],
      data: "Subject: hi\r\n\r\nline one\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n",
    },
    { from: "bob@example.com", to: ["alice@example.com"], data: "Subject: again\r\n\r\nshort\r\n" },
  ]);
});

const OVERSIZE_CLIENT = `
import smtplib, sys
port, limit = int(sys.argv[1]), int(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    s.ehlo()
    print(s.esmtp_features.get("size"))
    print(s.mail("alice@example.com", ["SIZE=%d" % (limit + 1)])[0])
    print(s.mail("alice@example.com", ["SIZE=%d" % limit])[0])
`;

Deno.test("SMTP-like example server advertises its size limit and refuses a larger message", async () => {
  const server = await startSmtpServer();
  try {
    const result = await new Deno.Command("python3", {
      args: ["-c", OVERSIZE_CLIENT, String(server.port), String(MAX_MESSAGE_SIZE)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
    assertEquals(new TextDecoder().decode(result.stdout).trim().split("\n"), [
      String(MAX_MESSAGE_SIZE),
      "552",
      "250",
    ]);
  } finally {
    await server.close();
  }
  assertEquals(server.messages, []);
});
