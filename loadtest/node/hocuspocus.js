// Hocuspocus (the Yjs websocket server) as a load-test target.
//
//   node hocuspocus.js [PORT]                 in memory (Hocuspocus' defaults)
//   node hocuspocus.js [PORT] sqlite PATH     documents stored with @hocuspocus/extension-sqlite
//
// Listens on 127.0.0.1 (PORT 0: any free port) and prints "listening PORT" once
// ready. No auth extension: any token is accepted. Everything else is
// Hocuspocus' default: updates are applied in memory, acknowledged (SyncStatus)
// at once, broadcast to every connection of the document (sender included)
// once per event-loop turn, and stored (SQLite variant) after the debounce.
// Quiet: no start screen, no per-connection logging. Exits 0 on SIGTERM.

"use strict";

const { Server } = require("@hocuspocus/server");

const port = Number.parseInt(process.argv[2] || "0", 10);
const extensions = [];
if (process.argv[3] === "sqlite") {
  const { SQLite } = require("@hocuspocus/extension-sqlite");
  extensions.push(new SQLite({ database: process.argv[4] || "hocuspocus.sqlite" }));
} else if (process.argv[3] !== undefined) {
  process.stderr.write(`unknown store ${process.argv[3]}: expected "sqlite PATH"\n`);
  process.exit(2);
}

const server = new Server({
  port,
  address: "127.0.0.1",
  quiet: true,
  stopOnSignals: false,
  extensions,
  websocketOptions: { perMessageDeflate: false },
});

process.on("SIGTERM", () => {
  if (extensions.length === 0) process.exit(0); // in memory: nothing to keep
  // store what is pending (SQLite) but never hang the harness: exit within 3 s
  setTimeout(() => process.exit(0), 3000).unref();
  server.destroy().then(
    () => process.exit(0),
    () => process.exit(0),
  );
});

server.listen().then(
  () => process.stdout.write(`listening ${server.address.port}\n`),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
