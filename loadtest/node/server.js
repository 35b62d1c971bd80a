// A minimal Node.js `ws` broadcast server: the baseline Backline is measured against.
//
// Clients connect to ws://127.0.0.1:PORT/ROOM. Every binary message one client
// sends is sent, unchanged, to every client of its room, the sender included
// (that copy is its acknowledgement). No validation, no storage, no batching:
// what a developer would write with `ws` to fan frames out.
//
//   node server.js [PORT]      prints "listening PORT" once ready

"use strict";

const { WebSocketServer } = require("ws");

const port = Number.parseInt(process.argv[2] || "0", 10);
const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => protocols.values().next().value || false,
});
const rooms = new Map();

wss.on("connection", (ws, request) => {
  const name = request.url;
  let room = rooms.get(name);
  if (room === undefined) {
    room = new Set();
    rooms.set(name, room);
  }
  room.add(ws);
  ws.on("message", (data, isBinary) => {
    for (const peer of room) {
      if (peer.readyState === 1) peer.send(data, { binary: isBinary });
    }
  });
  ws.on("close", () => {
    room.delete(ws);
    if (room.size === 0) rooms.delete(name);
  });
});

wss.on("listening", () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});

process.on("SIGTERM", () => process.exit(0));
