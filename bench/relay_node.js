// A bare Node.js socket.io 4.8 relay: the second baseline bench/chat_latency.py compares against.
// Same namespaces, event and ack shapes as bench/bare_relay.py: a visitor `message` is emitted to
// the `agents` room of `/agent` and acknowledged at once; no storage, no encryption.
//
//     node bench/relay_node.js --port 8098
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");

function argPort() {
  const at = process.argv.indexOf("--port");
  const port = at > 0 ? Number(process.argv[at + 1]) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error("usage: node relay_node.js --port PORT");
    process.exit(2);
  }
  return port;
}

const nowIso = () => new Date().toISOString();
const newId = (prefix) => prefix + crypto.randomBytes(12).toString("hex");

const httpServer = http.createServer((req, res) => {
  if (req.url === "/readyz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ready"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
// Same limits as the Python servers: 64 KiB frames.
const io = new Server(httpServer, { maxHttpBufferSize: 64 * 1024, serveClient: false });
const agents = io.of("/agent");
agents.on("connection", (socket) => socket.join("agents"));

io.of("/visitor").on("connection", (socket) => {
  let conversationId = null;
  socket.on("message", (payload, ack) => {
    const created = conversationId === null;
    if (created) conversationId = newId("c");
    const message = {
      id: newId("m"),
      conversation_id: conversationId,
      sender: "visitor",
      client_id: payload && payload.client_id,
      text: payload && payload.text,
      created_at: nowIso(),
      agent_id: null,
    };
    if (created) {
      const conversation = { id: conversationId, status: "open", created_at: message.created_at };
      agents.to("agents").emit("conversation_created", { conversation, message });
      if (typeof ack === "function") ack({ ok: true, conversation_id: conversationId, token: "bare", message });
      return;
    }
    agents.to("agents").emit("message", { message });
    if (typeof ack === "function") ack({ ok: true, conversation_id: conversationId, message });
  });
});

httpServer.listen(argPort(), "127.0.0.1");
process.on("SIGTERM", () => io.close(() => process.exit(0)));
