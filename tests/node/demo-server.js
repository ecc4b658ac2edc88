#!/usr/bin/env node
/*
 * The Node member of the sio-redis demo cluster (python -m sio_redis.demo starts it; docker-compose.yml too):
 * a plain socket.io server with @socket.io/redis-adapter that serves the same chat page as the Python servers
 * (sio_redis/demo/static/index.html) and answers the same events (see sio_redis/demo/server.py).
 *
 *   node tests/node/demo-server.js [--host 127.0.0.1] [--port 8003] [--redis redis://127.0.0.1:6379/0]
 *                                  [--name node-1] [--key sio-demo] [--stop-with-stdin]
 *
 * Prints "<name> ready at <url> (pid N)" once it listens and its adapter subscriptions are live in Redis.
 */
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");

const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

const PAGE = path.join(__dirname, "..", "..", "sio_redis", "demo", "static", "index.html");
// socket.io-client's package "exports" do not list the minified bundle: address the file itself.
const CLIENT_JS = path.join(__dirname, "node_modules", "socket.io-client", "dist", "socket.io.min.js");
const COUNT_EVERY_MS = 3000;
const MAX_NAME = 32;
const MAX_TEXT = 500;

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1",
    port: 8003,
    redis: process.env.SIO_REDIS_URL || "redis://127.0.0.1:6379/0",
    name: null,
    key: "sio-demo",
    stopWithStdin: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--host") opts.host = value();
    else if (arg === "--port") opts.port = Number(value());
    else if (arg === "--redis") opts.redis = value();
    else if (arg === "--name") opts.name = value();
    else if (arg === "--key") opts.key = value();
    else if (arg === "--stop-with-stdin") opts.stopWithStdin = true;
    else usage(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) usage("bad --port");
  opts.name = opts.name || `node-${opts.port}`;
  return opts;
}

function usage(message) {
  console.error(`demo-server: ${message}`);
  console.error("usage: node demo-server.js [--host H] [--port P] [--redis URL] [--name N] [--key K] [--stop-with-stdin]");
  process.exit(2);
}

function pageUrl(host, port) {
  if (host === "" || host === "0.0.0.0" || host === "::") host = "localhost";
  else if (host.includes(":")) host = `[${host}]`;
  return `http://${host}:${port}/`;
}

/** The message to rebroadcast for a client's chat payload, or null (same rules as sio_redis/demo/_common.py). */
function chatMessage(data, server) {
  if (!data || typeof data !== "object" || Array.isArray(data)) return null;
  let { name, text } = data;
  if (typeof text !== "string" || !text.trim()) return null;
  if (typeof name !== "string" || !name.trim()) name = "anonymous";
  const d = new Date();
  return {
    name: name.trim().slice(0, MAX_NAME),
    text: text.trim().slice(0, MAX_TEXT),
    server,
    time: localIso(d),
  };
}

/** Local time with its UTC offset, to the second, like Python's datetime.now().astimezone().isoformat(). */
function localIso(d) {
  const pad = (n) => String(Math.abs(Math.trunc(n))).padStart(2, "0");
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

function serveFile(res, file, type, missing) {
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(missing);
      return;
    }
    res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-cache" });
    res.end(data);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  // socket.io hands us only the requests that are not its own (/socket.io/...).
  const httpServer = http.createServer((req, res) => {
    const url = (req.url || "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405);
      res.end();
    } else if (url === "/" || url === "/index.html") {
      serveFile(res, PAGE, "text/html; charset=utf-8", `page not found at ${PAGE}`);
    } else if (url === "/socket.io.min.js") {
      serveFile(res, CLIENT_JS, "application/javascript; charset=utf-8", `client library not found at ${CLIENT_JS}`);
    } else {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("not found");
    }
  });

  const pubClient = createClient({ url: opts.redis });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => console.error(`${opts.name}: redis error: ${err.message}`));
  subClient.on("error", (err) => console.error(`${opts.name}: redis error: ${err.message}`));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const io = new Server(httpServer, { serveClient: false });
  io.adapter(createAdapter(pubClient, subClient, { key: opts.key }));

  const info = async () => ({ server: opts.name, servers: await io.of("/").adapter.serverCount() });

  io.on("connection", (socket) => {
    socket.join("clock");
    socket.on("hello", async (ack) => {
      if (typeof ack !== "function") return;
      try {
        ack(await info());
      } catch (err) {
        console.error(`${opts.name}: cannot count servers: ${err.message}`);
      }
    });
    socket.on("chat", (data) => {
      const message = chatMessage(data, opts.name);
      if (!message) return;
      console.log(`${opts.name}: chat from ${message.name}: ${message.text}`);
      io.emit("chat", message); // to every client of every server, through Redis
    });
  });

  // Each server tells its own clients (`local`), so nobody gets one copy per server.
  const counter = setInterval(async () => {
    try {
      io.local.emit("servers", await info());
    } catch (err) {
      console.error(`${opts.name}: cannot count servers: ${err.message}`);
    }
  }, COUNT_EVERY_MS);

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(opts.port, opts.host, resolve);
  });
  // The adapter subscribes in the background; the subscriber connection runs commands in order, so once a
  // round trip on it is answered, its subscriptions are live and every server counts this one.
  const barrier = `${opts.key}#demo-barrier#${process.pid}`;
  const noop = () => undefined;
  await subClient.subscribe(barrier, noop);
  await subClient.unsubscribe(barrier, noop);
  const port = httpServer.address().port;
  console.log(`${opts.name} ready at ${pageUrl(opts.host, port)} (pid ${process.pid})`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    clearInterval(counter);
    try {
      await io.close(); // disconnects the clients and closes the HTTP server
    } catch (err) {
      console.error(`${opts.name}: close: ${err.message}`);
    }
    for (const client of [subClient, pubClient]) {
      try {
        // disconnect(), not quit(): nothing is pending any more, and fakeredis (the demo's
        // embedded Redis) has no QUIT command.
        await client.disconnect();
      } catch (err) {
        console.error(`${opts.name}: redis disconnect: ${err.message}`);
      }
    }
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (opts.stopWithStdin) {
    // The launcher holds the other end of stdin: EOF means it is gone, so go too.
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
}

main().catch((err) => {
  console.error(`demo-server: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
