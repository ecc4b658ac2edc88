#!/usr/bin/env node
/*
 * Node socket.io server of the benchmark (socket.io 4.8 + @socket.io/redis-adapter 8).
 *   node bench/node/server.js '{"port": 9001, "redisUrl": "redis://127.0.0.1:7000"|null,
 *                              "sharded": false, "room": "bench"}'
 * Every client joins `room`. GET /local?n=2000&rate=0&size=64 broadcasts from this server
 * only (io.local), the no-Redis baseline. Prints {"type":"ready"} on stdout when listening.
 */
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { payload, paced } = require("./common");

const cfg = JSON.parse(process.argv[2] || "{}");
const room = cfg.room || "bench";

async function main() {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ["websocket"] });
  if (cfg.redisUrl) {
    const pub = createClient({ url: cfg.redisUrl });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(cfg.sharded ? createShardedAdapter(pub, sub) : createAdapter(pub, sub));
  }
  io.on("connection", (socket) => socket.join(room));
  httpServer.on("request", (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname !== "/local") return; // engine.io answers its own paths
    const n = Number(url.searchParams.get("n") || 2000);
    const rate = Number(url.searchParams.get("rate") || 0);
    const size = Number(url.searchParams.get("size") || 64);
    res.end("ok");
    paced(n, rate, (i) => io.local.to(room).emit("m", payload(i, size)));
  });
  httpServer.listen(cfg.port, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ type: "ready", pid: process.pid }) + "\n");
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
