#!/usr/bin/env node
/*
 * A real Node socket.io server (with @socket.io/redis-adapter) driven over stdin/stdout with JSON lines, so the
 * Python test suite can put it into a cluster with our Python servers. See tests/support/node.py.
 *
 *   node tests/node/harness.js '<json config>'
 *
 * Config: redisUrl, key ("socket.io"), mode ("classic" | "sharded"), subscriptionMode ("dynamic"),
 * namespaces (["/"]), requestsTimeout (5000), publishOnSpecificResponseChannel (false),
 * clusterNodes (optional ["host:port", ...] -> createCluster instead of createClient).
 *
 * stdout carries only JSON lines: {"type":"ready",...}, {"type":"reply",...}, {"type":"event",...}.
 * Buffers cross as {"$bin": "<hex>"}. Diagnostics go to stderr.
 */
"use strict";

const http = require("http");
const readline = require("readline");
const crypto = require("crypto");

const { Server } = require("socket.io");
const { io: ioClient } = require("socket.io-client");
const { createClient, createCluster } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");

// keep stdout for the protocol only
console.log = console.error;
console.info = console.error;
console.warn = console.error;
console.debug = console.error;

// ---------------------------------------------------------------------------
// wire helpers

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Set) return [...value].map(toWire);
  if (value instanceof Date) return value.toJSON();
  if (typeof value === "function") return undefined;
  if (value !== null && typeof value === "object") {
    if (typeof value.toJSON === "function") return toWire(value.toJSON());
    const out = {};
    for (const key of Object.keys(value)) out[key] = toWire(value[key]);
    return out;
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin" && typeof value.$bin === "string") {
      return Buffer.from(value.$bin, "hex");
    }
    const out = {};
    for (const key of keys) out[key] = fromWire(value[key]);
    return out;
  }
  return value;
}

function send(obj) {
  let line;
  try {
    line = JSON.stringify(toWire(obj));
  } catch (err) {
    line = JSON.stringify({ type: "event", kind: "harness-error", message: `unserializable output: ${err.message}` });
  }
  process.stdout.write(line + "\n");
}

function logEvent(fields) {
  send({ type: "event", ...fields });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// config

let config;
try {
  config = JSON.parse(process.argv[2] || "{}");
} catch (err) {
  console.error(`harness: bad config JSON: ${err.message}`);
  process.exit(2);
}
const cfg = {
  redisUrl: config.redisUrl || "redis://127.0.0.1:6379",
  key: config.key || "socket.io",
  mode: config.mode || "classic",
  subscriptionMode: config.subscriptionMode || "dynamic",
  namespaces: config.namespaces || ["/"],
  requestsTimeout: config.requestsTimeout || 5000,
  publishOnSpecificResponseChannel: !!config.publishOnSpecificResponseChannel,
  clusterNodes: config.clusterNodes || null,
};
if (!["classic", "sharded"].includes(cfg.mode)) {
  console.error(`harness: unknown mode ${cfg.mode}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// state

let io;
let httpServer;
let pubClient;
let subClient;
let port;
const clients = new Map(); // name -> socket.io-client Socket
const namespaces = new Map(); // name -> Namespace (configured)
const clientName = `sio-harness-${process.pid}-${crypto.randomBytes(3).toString("hex")}`;

function makeRedis() {
  if (cfg.clusterNodes && cfg.clusterNodes.length) {
    return createCluster({
      rootNodes: cfg.clusterNodes.map((node) => ({ url: `redis://${node}` })),
      defaults: { name: clientName },
    });
  }
  return createClient({ url: cfg.redisUrl, name: clientName });
}

/**
 * Wait until the subscriber connection has processed every command issued so far (standalone Redis only: one
 * connection executes commands in order, so a round trip on it is a barrier). On Redis Cluster the pub/sub
 * connections are per node; fall back to a short delay.
 */
async function syncSubscriber() {
  if (cfg.clusterNodes && cfg.clusterNodes.length) {
    await sleep(100);
    return;
  }
  const channel = `${clientName}#sync#${crypto.randomBytes(4).toString("hex")}`;
  const listener = () => undefined;
  await subClient.subscribe(channel, listener);
  await subClient.unsubscribe(channel, listener);
}

function configureNamespace(name) {
  if (namespaces.has(name)) return namespaces.get(name);
  const nsp = io.of(name);
  namespaces.set(name, nsp);
  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
    if (auth.data !== undefined) socket.data = fromWire(auth.data);
    logEvent({ kind: "connection", nsp: nsp.name, sid: socket.id });
    socket.on("disconnect", (reason) => {
      logEvent({ kind: "server-disconnect", nsp: nsp.name, sid: socket.id, reason });
    });
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      logEvent({ kind: "server-received", nsp: nsp.name, sid: socket.id, event, args });
      if (ack) ack({ echo: args });
    });
  });
  return nsp;
}

async function ensureNamespace(name) {
  const known = namespaces.has(name);
  const nsp = configureNamespace(name);
  if (!known) await syncSubscriber();
  return nsp;
}

// ---------------------------------------------------------------------------
// commands

function buildOperator(nsp, cmd) {
  let op = nsp.to([]);
  if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  const flags = cmd.flags || {};
  if (flags.volatile) op = op.volatile;
  if (flags.compress !== undefined && flags.compress !== null) op = op.compress(!!flags.compress);
  if (flags.local) op = op.local;
  if (flags.timeout !== undefined && flags.timeout !== null) op = op.timeout(flags.timeout);
  return op;
}

function socketInfo(socket) {
  const { sessionStore, ...handshake } = socket.handshake || {};
  void sessionStore;
  return { id: socket.id, handshake, rooms: [...socket.rooms], data: socket.data };
}

class CommandError extends Error {
  constructor(message, partial) {
    super(message);
    this.partial = partial;
  }
}

function withPartial(err) {
  if (err && err.responses !== undefined) return new CommandError(err.message, err.responses);
  return err;
}

async function opServer(cmd) {
  const nsp = await ensureNamespace(cmd.nsp || "/");
  const args = fromWire(cmd.args || []);
  const op = buildOperator(nsp, cmd);
  switch (cmd.action) {
    case "emit":
      return op.emit(...args);
    case "emitWithAck":
      if (!cmd.flags || typeof cmd.flags.timeout !== "number") {
        throw new Error('emitWithAck needs flags.timeout (ms)');
      }
      try {
        return await op.emitWithAck(...args);
      } catch (err) {
        throw withPartial(err);
      }
    case "fetchSockets":
      return (await op.fetchSockets()).map(socketInfo);
    case "socketsJoin":
      op.socketsJoin(args[0]);
      return null;
    case "socketsLeave":
      op.socketsLeave(args[0]);
      return null;
    case "disconnectSockets":
      op.disconnectSockets(!!args[0]);
      return null;
    case "serverSideEmit":
      nsp.serverSideEmit(...args);
      return null;
    case "serverSideEmitWithAck":
      try {
        return await nsp.serverSideEmitWithAck(...args);
      } catch (err) {
        throw withPartial(err);
      }
    case "allRooms": {
      if (typeof nsp.adapter.allRooms !== "function") {
        throw new Error(`allRooms() is not supported by the ${cfg.mode} adapter`);
      }
      const rooms = await nsp.adapter.allRooms();
      return [...rooms].sort((a, b) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
    }
    case "serverCount":
      return await nsp.adapter.serverCount();
    default:
      throw new Error(`unknown server action ${JSON.stringify(cmd.action)}`);
  }
}

async function opListen(cmd) {
  const nsp = await ensureNamespace(cmd.nsp || "/");
  if (typeof cmd.event !== "string") throw new Error("listen needs an event name");
  const hasReply = Object.prototype.hasOwnProperty.call(cmd, "reply");
  const reply = fromWire(cmd.reply);
  nsp.on(cmd.event, (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    logEvent({ kind: "server-side-emit", nsp: nsp.name, event: cmd.event, args, withAck: !!cb });
    if (cb && hasReply) cb(reply);
  });
  return null;
}

async function opConnect(cmd) {
  const name = cmd.name;
  if (typeof name !== "string" || !name) throw new Error("connect needs a client name");
  if (clients.has(name)) throw new Error(`client ${name} already exists`);
  const base = (cmd.url || `http://127.0.0.1:${port}`).replace(/\/+$/, "");
  const nspName = cmd.nsp || "/";
  const hasAck = Object.prototype.hasOwnProperty.call(cmd, "ack");
  const ackValue = fromWire(cmd.ack);
  const client = ioClient(base + nspName, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: !!cmd.reconnection,
    auth: cmd.auth || {},
  });
  clients.set(name, client);
  client.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    logEvent({ kind: "client", client: name, event, args });
    if (ack) ack(hasAck ? ackValue : { client: name });
  });
  client.on("disconnect", (reason) => logEvent({ kind: "client-disconnect", client: name, reason }));
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout while connecting")), 10000);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      client.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(new Error(`connect_error: ${err.message}`));
      });
    });
  } catch (err) {
    client.close();
    clients.delete(name);
    throw err;
  }
  // a server-side join on this process issues (S)SUBSCRIBEs: make sure Redis has them before replying
  await syncSubscriber();
  return { sid: client.id };
}

function getClient(name) {
  const client = clients.get(name);
  if (!client) throw new Error(`no client named ${JSON.stringify(name)}`);
  return client;
}

async function opClientEmit(cmd) {
  const client = getClient(cmd.client);
  const args = fromWire(cmd.args || []);
  if (cmd.ack) return await client.timeout(5000).emitWithAck(cmd.event, ...args);
  client.emit(cmd.event, ...args);
  return null;
}

async function opClientClose(cmd) {
  const client = getClient(cmd.client);
  client.close();
  clients.delete(cmd.client);
  return null;
}

async function opSocket(cmd) {
  const nsp = await ensureNamespace(cmd.nsp || "/");
  const socket = nsp.sockets.get(cmd.sid);
  if (!socket) throw new Error(`socket ${cmd.sid} is not connected to ${nsp.name} on this server`);
  switch (cmd.action) {
    case "join":
      await socket.join(cmd.rooms || []);
      await syncSubscriber();
      return [...socket.rooms];
    case "leave":
      for (const room of cmd.rooms || []) await socket.leave(room);
      await syncSubscriber();
      return [...socket.rooms];
    case "rooms":
      return [...socket.rooms];
    case "setData":
      socket.data = fromWire(cmd.data);
      return null;
    case "emit":
      socket.emit(...fromWire(cmd.args || []));
      return null;
    case "disconnect":
      socket.disconnect(!!cmd.close);
      return null;
    default:
      throw new Error(`unknown socket action ${JSON.stringify(cmd.action)}`);
  }
}

const OPS = {
  server: opServer,
  listen: opListen,
  connect: opConnect,
  clientEmit: opClientEmit,
  clientClose: opClientClose,
  socket: opSocket,
  sync: async () => {
    await syncSubscriber();
    return null;
  },
};

async function handleLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    send({ type: "reply", id: null, ok: false, error: `bad JSON command: ${err.message}` });
    return;
  }
  const id = cmd && Object.prototype.hasOwnProperty.call(cmd, "id") ? cmd.id : null;
  if (!cmd || typeof cmd !== "object" || Array.isArray(cmd)) {
    send({ type: "reply", id, ok: false, error: "command must be a JSON object" });
    return;
  }
  if (cmd.op === "exit") {
    send({ type: "reply", id, ok: true, result: null });
    await shutdown(0);
    return;
  }
  const fn = OPS[cmd.op];
  if (!fn) {
    send({ type: "reply", id, ok: false, error: `unknown op ${JSON.stringify(cmd.op)}` });
    return;
  }
  try {
    const result = await fn(cmd);
    send({ type: "reply", id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    const reply = { type: "reply", id, ok: false, error: err && err.message ? err.message : String(err) };
    if (err && err.partial !== undefined) reply.partial = err.partial;
    send(reply);
  }
}

// ---------------------------------------------------------------------------
// lifecycle

let shuttingDown = null;

function shutdown(code) {
  if (shuttingDown) return shuttingDown;
  shuttingDown = (async () => {
    const force = setTimeout(() => process.exit(code), 4000);
    force.unref();
    for (const client of clients.values()) {
      try {
        client.close();
      } catch (err) {
        console.error("harness: client close:", err.message);
      }
    }
    clients.clear();
    try {
      if (io) await io.close();
    } catch (err) {
      console.error("harness: io.close:", err.message);
    }
    for (const c of [subClient, pubClient]) {
      try {
        if (c) await c.quit();
      } catch (err) {
        console.error("harness: redis quit:", err.message);
      }
    }
    // flush stdout before leaving
    process.stdout.write("", () => process.exit(code));
  })();
  return shuttingDown;
}

process.stdout.on("error", (err) => {
  console.error("harness: stdout error:", err.message);
  shutdown(0);
});
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
process.on("uncaughtException", (err) => {
  console.error("harness: uncaught exception:", err && err.stack ? err.stack : err);
  logEvent({ kind: "uncaught-exception", message: err && err.message ? err.message : String(err) });
});
process.on("unhandledRejection", (err) => {
  console.error("harness: unhandled rejection:", err && err.stack ? err.stack : err);
  logEvent({ kind: "unhandled-rejection", message: err && err.message ? err.message : String(err) });
});

async function main() {
  pubClient = makeRedis();
  subClient = pubClient.duplicate();
  pubClient.on("error", (err) => console.error("harness: redis pub error:", err.message));
  subClient.on("error", (err) => console.error("harness: redis sub error:", err.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const adapter =
    cfg.mode === "sharded"
      ? createShardedAdapter(pubClient, subClient, {
          channelPrefix: cfg.key,
          subscriptionMode: cfg.subscriptionMode,
        })
      : createAdapter(pubClient, subClient, {
          key: cfg.key,
          requestsTimeout: cfg.requestsTimeout,
          publishOnSpecificResponseChannel: cfg.publishOnSpecificResponseChannel,
        });
  httpServer = http.createServer();
  io = new Server(httpServer, { adapter });
  for (const name of cfg.namespaces) configureNamespace(name);
  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(0, "127.0.0.1", resolve);
  });
  port = httpServer.address().port;
  await syncSubscriber();

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on("line", (line) => {
    handleLine(line).catch((err) => console.error("harness: command failed:", err));
  });
  rl.on("close", () => shutdown(0));

  send({ type: "ready", port, pid: process.pid });
}

main().catch((err) => {
  console.error("harness: startup failed:", err && err.stack ? err.stack : err);
  process.exit(1);
});
