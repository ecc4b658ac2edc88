#!/usr/bin/env node
/*
 * Capture exact wire vectors from the real Node packages.
 *
 *   node tests/node/capture_vectors.js <redis-port> <out-dir>
 *
 * Starts in-process socket.io servers (classic adapter, sharded adapter in each
 * subscription mode) and a redis-emitter against the Redis server on
 * 127.0.0.1:<redis-port>, drives them step by step, and records every PUBLISH /
 * SPUBLISH the Redis server executes (read from a raw MONITOR connection, so the
 * bytes, the command and the channel are exactly what Redis saw). Steps are
 * delimited with ECHO markers on the MONITOR stream. Classic traffic is also
 * cross-checked against a PSUBSCRIBE '*' subscriber, sharded traffic against an
 * SSUBSCRIBE subscriber on the known channels.
 *
 * Writes <out-dir>/classic.json, <out-dir>/emitter.json, <out-dir>/sharded.json.
 * See tests/vectors/README.md. Use a throwaway redis-server (it must be empty of
 * other traffic): the capture fails if a step sees unexpected publishes.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const http = require("http");
const net = require("net");
const { EventEmitter } = require("events");

const { Server } = require("socket.io");
const { io: ioClient } = require("socket.io-client");
const { createClient } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const notepack = require("notepack.io");

const GENERATED_BY = "tests/node/capture_vectors.js";
const SETTLE_MS = 200;
const WAIT_MS = 4000;

const VERSIONED_PACKAGES = [
  "@socket.io/redis-adapter",
  "@socket.io/redis-emitter",
  "socket.io",
  "socket.io-adapter",
  "socket.io-parser",
  "socket.io-client",
  "engine.io",
  "notepack.io",
  "redis",
  "@redis/client",
];

// ---------------------------------------------------------------------------
// small utilities

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function packageVersions() {
  const versions = {};
  for (const name of VERSIONED_PACKAGES) {
    const file = path.join(__dirname, "node_modules", ...name.split("/"), "package.json");
    versions[name] = JSON.parse(fs.readFileSync(file, "utf8")).version;
  }
  return versions;
}

/** JS value (as decoded by notepack / JSON.parse) -> plain JSON value of the vector files. */
function toPlain(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (value instanceof Date) return { $date: value.getTime() };
  if (typeof value === "number" && !Number.isFinite(value)) return { $float: String(value) };
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toPlain(value[key]);
    return out;
  }
  return value;
}

/** Inverse of toPlain. */
function fromPlain(value) {
  if (Array.isArray(value)) return value.map(fromPlain);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "hex");
    if (keys.length === 1 && keys[0] === "$date") return new Date(value.$date);
    if (keys.length === 1 && keys[0] === "$float") return Number(value.$float);
    const out = {};
    for (const key of keys) out[key] = fromPlain(value[key]);
    return out;
  }
  return value;
}

/** Decode a payload the way the Node receivers do: '{' first -> JSON, else msgpack. */
function decodePayload(buf) {
  if (buf.length > 0 && buf[0] === 0x7b) {
    return { encoding: "json", value: JSON.parse(buf.toString("utf8")) };
  }
  return { encoding: "msgpack", value: notepack.decode(buf) };
}

/** true when re-encoding the plain decoded value gives back the exact bytes. */
function reproduces(encoding, plain, buf) {
  try {
    const value = fromPlain(plain);
    const again =
      encoding === "json" ? Buffer.from(JSON.stringify(value), "utf8") : notepack.encode(value);
    return Buffer.compare(again, buf) === 0;
  } catch (err) {
    return false;
  }
}

// ---------------------------------------------------------------------------
// MONITOR reader (raw RESP over a plain TCP socket)

/** Undo Redis' sdscatrepr() quoting of one MONITOR argument. */
function unrepr(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== "\\") {
      bytes.push(text.charCodeAt(i));
      continue;
    }
    const next = text[++i];
    switch (next) {
      case "\\": bytes.push(0x5c); break;
      case '"': bytes.push(0x22); break;
      case "n": bytes.push(0x0a); break;
      case "r": bytes.push(0x0d); break;
      case "t": bytes.push(0x09); break;
      case "a": bytes.push(0x07); break;
      case "b": bytes.push(0x08); break;
      case "x":
        bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      default:
        throw new Error(`unexpected escape \\${next} in MONITOR line`);
    }
  }
  return Buffer.from(bytes);
}

/** Parse `+<ts> [<db> <addr>] "ARG" "ARG" ...` into a list of Buffers. */
function parseMonitorLine(line) {
  const start = line.indexOf("] ");
  if (!line.startsWith("+") || start < 0) return null;
  const args = [];
  let i = start + 2;
  while (i < line.length) {
    if (line[i] === " ") { i++; continue; }
    if (line[i] !== '"') throw new Error(`bad MONITOR line: ${line}`);
    let j = i + 1;
    let raw = "";
    while (j < line.length && line[j] !== '"') {
      if (line[j] === "\\") { raw += line.slice(j, j + 2); j += 2; } else { raw += line[j]; j++; }
    }
    args.push(unrepr(raw));
    i = j + 1;
  }
  return args;
}

class Monitor extends EventEmitter {
  constructor(port) {
    super();
    this.port = port;
    this.entries = []; // {cmd, args: [Buffer]}
    this.buffer = "";
  }

  async start() {
    this.socket = net.connect(this.port, "127.0.0.1");
    this.socket.setEncoding("latin1"); // MONITOR output is ASCII (sdscatrepr escapes the rest)
    await new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    const ok = new Promise((resolve) => this.once("ok", resolve));
    this.socket.on("data", (chunk) => this.onData(chunk));
    this.socket.write("MONITOR\r\n");
    await withTimeout(ok, 5000, "MONITOR +OK");
  }

  onData(chunk) {
    this.buffer += chunk;
    let idx;
    while ((idx = this.buffer.indexOf("\r\n")) >= 0) {
      const line = this.buffer.slice(0, idx);
      this.buffer = this.buffer.slice(idx + 2);
      if (line === "+OK") { this.emit("ok"); continue; }
      if (line.startsWith("-")) throw new Error(`MONITOR error: ${line}`);
      const args = parseMonitorLine(line);
      if (!args || args.length === 0) continue;
      const entry = { cmd: args[0].toString("latin1").toUpperCase(), args };
      this.entries.push(entry);
      this.emit("entry", entry);
    }
  }

  /** Index just after the ECHO entry carrying `text`, waiting for it to show up. */
  waitEcho(text) {
    const find = () =>
      this.entries.findIndex(
        (e) => e.cmd === "ECHO" && e.args[1] && e.args[1].toString("utf8") === text,
      );
    const found = find();
    if (found >= 0) return Promise.resolve(found + 1);
    return withTimeout(
      new Promise((resolve) => {
        const onEntry = () => {
          const at = find();
          if (at >= 0) {
            this.off("entry", onEntry);
            resolve(at + 1);
          }
        };
        this.on("entry", onEntry);
      }),
      5000,
      `MONITOR marker ${text}`,
    );
  }

  stop() {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------
// subscriber used as an independent cross-check of the MONITOR bytes

class Verifier {
  constructor(url) {
    this.url = url;
    this.received = []; // {cmd, channel, hex}
    this.shardedChannels = new Set();
  }

  async start() {
    this.client = createClient({ url: this.url });
    this.client.on("error", (err) => console.error("verifier redis error:", err.message));
    await this.client.connect();
    await this.client.pSubscribe(
      "*",
      (message, channel) => {
        this.received.push({ cmd: "PUBLISH", channel: channel.toString("utf8"), hex: message.toString("hex") });
      },
      true,
    );
  }

  async sSubscribe(channels) {
    for (const channel of channels) {
      if (this.shardedChannels.has(channel)) continue;
      this.shardedChannels.add(channel);
      await this.client.sSubscribe(
        channel,
        (message, ch) => {
          this.received.push({ cmd: "SPUBLISH", channel: ch.toString("utf8"), hex: message.toString("hex") });
        },
        true,
      );
    }
  }

  async stop() {
    await this.client.quit();
  }
}

// ---------------------------------------------------------------------------
// socket.io servers and clients

async function startServer(redisUrl, { mode, adapterOpts = {}, namespaces = ["/"], onConnection }) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (err) => console.error("redis error:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const adapter =
    mode === "sharded" ? createShardedAdapter(pub, sub, adapterOpts) : createAdapter(pub, sub, adapterOpts);
  const io = new Server(httpServer, { adapter });
  for (const name of namespaces) {
    io.of(name).on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
      if (auth.data !== undefined) socket.data = auth.data;
      if (onConnection) onConnection(socket);
    });
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = httpServer.address().port;
  // let the adapters' (P|S)SUBSCRIBE commands reach Redis before anything is published
  await pub.ping();
  await sub.ping().catch(() => undefined);
  await sleep(100);
  return {
    io,
    pub,
    sub,
    port,
    url: `http://127.0.0.1:${port}`,
    adapter: (nsp = "/") => io.of(nsp).adapter,
    socket: (nsp, sid) => io.of(nsp).sockets.get(sid),
    async close() {
      await io.close();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

function defaultAck(event, args) {
  if (event === "ack-bin") return Buffer.from([0xca, 0xfe]);
  return { got: args[0] };
}

async function connectClient(server, nsp, auth) {
  const client = ioClient(server.url + nsp, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    auth,
  });
  client.log = [];
  client.bus = new EventEmitter();
  client.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    client.log.push({ event, args });
    if (ack) ack(defaultAck(event, args));
    client.bus.emit("event", event, args);
  });
  client.on("disconnect", (reason) => client.bus.emit("disconnected", reason));
  await withTimeout(
    new Promise((resolve, reject) => {
      client.once("connect", resolve);
      client.once("connect_error", reject);
    }),
    5000,
    `client connect ${nsp}`,
  );
  return client;
}

/** Promise resolved when `client` receives `event` (registered before the call is made). */
function nextEvent(client, event) {
  return withTimeout(
    new Promise((resolve) => {
      const handler = (ev, args) => {
        if (ev === event) {
          client.bus.off("event", handler);
          resolve(args);
        }
      };
      client.bus.on("event", handler);
    }),
    WAIT_MS,
    `client event ${event}`,
  );
}

function nextDisconnect(client) {
  return withTimeout(
    new Promise((resolve) => client.bus.once("disconnected", resolve)),
    WAIT_MS,
    "client disconnect",
  );
}

function nextServerSideEmit(server, nsp, event) {
  return withTimeout(
    new Promise((resolve) => {
      server.io.of(nsp).once(event, (...args) => resolve(args));
    }),
    WAIT_MS,
    `server-side emit ${event}`,
  );
}

// ---------------------------------------------------------------------------
// step runner

let stepCounter = 0;

class Recorder {
  constructor(monitor, marker) {
    this.monitor = monitor;
    this.marker = marker; // redis client used for ECHO markers
    this.vectors = [];
    this.names = new Set();
  }

  /**
   * Run one step: `run()` performs the call(s) and resolves when their effects were observed.
   * `expect` lists the publishes (in Redis execution order) as {name, call?, notes?}.
   */
  async step({ call, notes, expect, run }) {
    const id = ++stepCounter; // global: markers must stay unique across groups
    await this.marker.echo(`vector-mark:begin:${id}`);
    const begin = await this.monitor.waitEcho(`vector-mark:begin:${id}`);
    try {
      await run();
    } catch (err) {
      err.message = `step ${id} (${call}): ${err.message}`;
      throw err;
    }
    await sleep(SETTLE_MS);
    await this.marker.echo(`vector-mark:end:${id}`);
    const end = (await this.monitor.waitEcho(`vector-mark:end:${id}`)) - 1;
    const published = this.monitor.entries
      .slice(begin, end)
      .filter((e) => e.cmd === "PUBLISH" || e.cmd === "SPUBLISH");
    if (published.length !== expect.length) {
      const seen = published.map((e) => `${e.cmd} ${e.args[1].toString()} ${e.args[2].toString("hex").slice(0, 60)}`);
      throw new Error(
        `step ${id} (${call}): expected ${expect.length} publish(es) [${expect.map((x) => x.name)}], got ${published.length}:\n  ${seen.join("\n  ")}`,
      );
    }
    published.forEach((entry, i) => {
      const spec = expect[i];
      if (this.names.has(spec.name)) throw new Error(`duplicate vector name ${spec.name}`);
      this.names.add(spec.name);
      const payload = entry.args[2];
      const { encoding, value } = decodePayload(payload);
      const decoded = toPlain(value);
      const vector = {
        name: spec.name,
        command: entry.cmd,
        channel: entry.args[1].toString("utf8"),
        hex: payload.toString("hex"),
        encoding,
        decoded,
        call: spec.call || call,
        deterministic: reproduces(encoding, decoded, payload),
      };
      const allNotes = [spec.notes || notes].filter(Boolean);
      if (spec.check) {
        const problem = spec.check(vector);
        if (problem) throw new Error(`vector ${spec.name}: ${problem}\n${JSON.stringify(vector)}`);
      }
      if (allNotes.length) vector.notes = allNotes.join(" ");
      this.vectors.push(vector);
    });
  }
}

// small declarative checks so a run that drifts (wrong channel / type) fails loudly
const on = (channel, command) => (v) =>
  v.channel !== channel || (command && v.command !== command)
    ? `expected ${command || ""} ${channel}, got ${v.command} ${v.channel}`
    : null;
const typeIs = (type, channel, command) => (v) => {
  const bad = channel ? on(channel, command)(v) : null;
  if (bad) return bad;
  const t = v.decoded && !Array.isArray(v.decoded) ? v.decoded.type : undefined;
  return t === type ? null : `expected type ${type}, got ${JSON.stringify(t)}`;
};
const encodingIs = (encoding, inner) => (v) =>
  v.encoding !== encoding ? `expected ${encoding}, got ${v.encoding}` : inner ? inner(v) : null;

// ---------------------------------------------------------------------------
// classic adapter

async function captureClassic(ctx) {
  const { redisUrl, rec } = ctx;
  const K = "socket.io";

  // --- phase 1: two servers, default options -------------------------------------------
  const s1 = await startServer(redisUrl, { mode: "classic", namespaces: ["/", "/admin"] });
  const s2 = await startServer(redisUrl, { mode: "classic", namespaces: ["/", "/admin"] });
  const c1 = await connectClient(s2, "/", { rooms: ["room1"], data: { user: "bob", n: 1 } });
  const cAdmin = await connectClient(s2, "/admin", { rooms: ["admins"], data: { role: "admin" } });
  const sid = c1.id;

  await rec.step({
    call: 'io.emit("hello", "world")',
    expect: [{ name: "classic-broadcast-all", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "hello");
      s1.io.emit("hello", "world");
      await got;
    },
  });
  await rec.step({
    call: 'io.to("room1").emit("hello", "world", 1, 2.5, { a: true })',
    expect: [{ name: "classic-broadcast-room", check: on(`${K}#/#room1#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "hello");
      s1.io.to("room1").emit("hello", "world", 1, 2.5, { a: true });
      await got;
    },
  });
  await rec.step({
    call: 'io.to(socketId).emit("direct", 1)',
    notes: "A socket id is a room like any other: exactly one room -> room channel.",
    expect: [{ name: "classic-broadcast-socket-id", check: on(`${K}#/#${sid}#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "direct");
      s1.io.to(sid).emit("direct", 1);
      await got;
    },
  });
  await rec.step({
    call: 'io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("multi", "x")',
    notes: "Two rooms -> base channel; opts key order rooms, except, flags; flags in the order they were set.",
    expect: [{ name: "classic-broadcast-multi-room-except-flags", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "multi");
      s1.io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("multi", "x");
      await got;
    },
  });
  await rec.step({
    call: 'io.compress(false).volatile.emit("flags-order", 1)',
    notes: "Same flags set in the other order: the flags map keeps insertion order.",
    expect: [{ name: "classic-broadcast-flags-compress-then-volatile", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "flags-order");
      s1.io.compress(false).volatile.emit("flags-order", 1);
      await got;
    },
  });
  await rec.step({
    call: 'io.timeout(1000).emit("timeout-flag-no-ack", 1)',
    notes: "timeout flag without an ack callback: a plain broadcast carrying flags.timeout.",
    expect: [{ name: "classic-broadcast-timeout-flag-without-ack", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "timeout-flag-no-ack");
      s1.io.timeout(1000).emit("timeout-flag-no-ack", 1);
      await got;
    },
  });
  await rec.step({
    call: 'io.emit("bin", Buffer.from([1, 2, 3]))',
    notes: "Binary stays packet type 2 with a msgpack bin inside data.",
    expect: [{ name: "classic-broadcast-binary-top-level", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "bin");
      s1.io.emit("bin", Buffer.from([1, 2, 3]));
      await got;
    },
  });
  await rec.step({
    call:
      'io.emit("bin-nested", { file: Buffer.from([0xde, 0xad, 0xbe, 0xef]), list: [Buffer.from([0]), "x"] }, [Buffer.from([1]), { empty: Buffer.alloc(0) }], Buffer.alloc(300, 7))',
    notes: "Nested binary in objects/arrays; empty bin (c4 00); a 300-byte Buffer uses bin16 (c5).",
    expect: [{ name: "classic-broadcast-binary-nested", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "bin-nested");
      s1.io.emit(
        "bin-nested",
        { file: Buffer.from([0xde, 0xad, 0xbe, 0xef]), list: [Buffer.from([0]), "x"] },
        [Buffer.from([1]), { empty: Buffer.alloc(0) }],
        Buffer.alloc(300, 7),
      );
      await got;
    },
  });
  const numbers = [
    1, 2.5, -1, 300, 1.0, 2 ** 40, -(2 ** 40), 0, -0, 127, 128, 255, 256, 65535, 65536,
    2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1,
    0.1, -2.5, 1e-7,
  ];
  await rec.step({
    call:
      'io.emit("numbers", 1, 2.5, -1, 300, 1.0, 2 ** 40, -(2 ** 40), 0, -0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.1, -2.5, 1e-7)',
    notes: "notepack: integral numbers (1.0, -0 too) use the smallest int form, others float64 (cb).",
    expect: [{ name: "classic-broadcast-numbers", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "numbers");
      s1.io.emit("numbers", ...numbers);
      await got;
    },
  });
  await rec.step({
    call: 'io.emit("huge-integral", 2 ** 64, 1.5e300)',
    notes:
      "notepack bug: integral numbers >= 2^64 take the uint64 path and wrap modulo 2^64 (here to cf 0000000000000000, decoding as 0). The decoded value cannot re-encode to these bytes, hence deterministic false. Never send such numbers.",
    expect: [{ name: "classic-broadcast-huge-integral-numbers", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "huge-integral");
      s1.io.emit("huge-integral", 2 ** 64, 1.5e300);
      await got;
    },
  });
  await rec.step({
    call: 'io.emit("float-specials", NaN, Infinity, -Infinity)',
    notes: 'NaN / Infinity are float64 in msgpack; in "decoded" they are written {"$float": "NaN"|"Infinity"|"-Infinity"}.',
    expect: [{ name: "classic-broadcast-float-specials", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "float-specials");
      s1.io.emit("float-specials", NaN, Infinity, -Infinity);
      await got;
    },
  });
  await rec.step({
    call:
      'io.emit("unicode", "é", "日本語", "emoji 🎉", "x".repeat(31), "x".repeat(32), "é".repeat(200), "")',
    notes: "fixstr / str8 (d9) / str16 (da) boundaries are on UTF-8 byte length.",
    expect: [{ name: "classic-broadcast-unicode", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "unicode");
      s1.io.emit("unicode", "é", "日本語", "emoji 🎉", "x".repeat(31), "x".repeat(32), "é".repeat(200), "");
      await got;
    },
  });
  await rec.step({
    call:
      'io.emit("nested", { a: { b: { c: [1, { d: null }] } }, arr: [[], {}], t: true, f: false, u: undefined, "2": "int-like key", z: "last" }, null, undefined)',
    notes:
      "Object values that are undefined are omitted; undefined in an array is nil (c0); integer-like keys come first (JS key order).",
    expect: [{ name: "classic-broadcast-nested-null", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "nested");
      s1.io.emit(
        "nested",
        { a: { b: { c: [1, { d: null }] } }, arr: [[], {}], t: true, f: false, u: undefined, 2: "int-like key", z: "last" },
        null,
        undefined,
      );
      await got;
    },
  });
  await rec.step({
    call: 'io.emit("many", ...Array.from({ length: 20 }, (_, i) => i))',
    notes: "21-element data array -> array16 (dc 00 15).",
    expect: [{ name: "classic-broadcast-array16", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "many");
      s1.io.emit("many", ...Array.from({ length: 20 }, (_, i) => i));
      await got;
    },
  });
  await rec.step({
    call: 'io.to(42).emit("numeric-room", 1)',
    notes: "A numeric room stays a msgpack int in opts.rooms; the channel uses its decimal string.",
    expect: [{ name: "classic-broadcast-numeric-room", check: on(`${K}#/#42#`, "PUBLISH") }],
    run: async () => {
      s1.io.to(42).emit("numeric-room", 1);
    },
  });
  await rec.step({
    call: 'io.of("/admin").emit("admin-hello", 1)',
    expect: [{ name: "classic-admin-broadcast-all", check: on(`${K}#/admin#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(cAdmin, "admin-hello");
      s1.io.of("/admin").emit("admin-hello", 1);
      await got;
    },
  });
  await rec.step({
    call: 'io.of("/admin").to("admins").emit("admin-room", { ok: true })',
    expect: [{ name: "classic-admin-broadcast-room", check: on(`${K}#/admin#admins#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(cAdmin, "admin-room");
      s1.io.of("/admin").to("admins").emit("admin-room", { ok: true });
      await got;
    },
  });
  await rec.step({
    call: 'socket.broadcast.emit("from-socket", 1)  // on server 2, socket = the client in room1',
    notes: "socket.broadcast puts the sender's own id in except; published by server 2.",
    expect: [{ name: "classic-broadcast-from-socket", check: on(`${K}#/#`, "PUBLISH") }],
    run: async () => {
      s2.socket("/", sid).broadcast.emit("from-socket", 1);
    },
  });
  await rec.step({
    call: 'socket.to("room1").emit("from-socket-room", 2)  // on server 2',
    expect: [{ name: "classic-broadcast-from-socket-to-room", check: on(`${K}#/#room1#`, "PUBLISH") }],
    run: async () => {
      s2.socket("/", sid).to("room1").emit("from-socket-room", 2);
    },
  });

  // requests
  await rec.step({
    call: 'io.of("/").adapter.allRooms()',
    expect: [
      { name: "classic-request-all-rooms", check: typeIs(1, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-all-rooms", check: on(`${K}-response#/#`, "PUBLISH") },
    ],
    run: async () => {
      await s1.adapter().allRooms();
    },
  });
  await rec.step({
    call: 'io.in("room1").socketsJoin(["room2"])',
    expect: [{ name: "classic-request-sockets-join", check: typeIs(2, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      s1.io.in("room1").socketsJoin(["room2"]);
      await sleep(50);
    },
  });
  await rec.step({
    call: 'io.except("room3").socketsJoin("room4")',
    notes: "A single room argument becomes a one-element array.",
    expect: [{ name: "classic-request-sockets-join-except", check: typeIs(2, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      s1.io.except("room3").socketsJoin("room4");
    },
  });
  await rec.step({
    call: 'io.in("room1").socketsLeave("room2")',
    expect: [{ name: "classic-request-sockets-leave", check: typeIs(3, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      s1.io.in("room1").socketsLeave("room2");
    },
  });
  await rec.step({
    call: 'io.in("room1").fetchSockets()',
    notes: "Response is always JSON; handshake minus sessionStore; data = socket.data.",
    expect: [
      { name: "classic-request-fetch-sockets", check: typeIs(5, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-fetch-sockets", check: on(`${K}-response#/#`, "PUBLISH") },
    ],
    run: async () => {
      const sockets = await s1.io.in("room1").fetchSockets();
      if (sockets.length !== 1) throw new Error(`fetchSockets returned ${sockets.length}`);
    },
  });
  await rec.step({
    call: 'io.except("room1").fetchSockets()',
    notes: "No matching socket: the other server still answers with an empty list.",
    expect: [
      { name: "classic-request-fetch-sockets-except", check: typeIs(5, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-fetch-sockets-empty", check: on(`${K}-response#/#`, "PUBLISH") },
    ],
    run: async () => {
      await s1.io.except("room1").fetchSockets();
    },
  });
  await rec.step({
    call: '(await io.in("room1").fetchSockets())[0].emit("remote-hi", 1)',
    notes: "RemoteSocket.emit: a broadcast to the socket-id room with flags {expectSingleResponse: true}.",
    expect: [
      { name: "classic-remote-socket-fetch-request", check: typeIs(5, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-remote-socket-fetch-response", check: on(`${K}-response#/#`, "PUBLISH") },
      { name: "classic-remote-socket-emit", check: on(`${K}#/#${sid}#`, "PUBLISH") },
    ],
    run: async () => {
      const [remote] = await s1.io.in("room1").fetchSockets();
      const got = nextEvent(c1, "remote-hi");
      remote.emit("remote-hi", 1);
      await got;
    },
  });
  const [remoteForJoin] = await s1.io.in("room1").fetchSockets();
  await rec.step({
    call: 'remoteSocket.join("room5")  // remoteSocket from an earlier fetchSockets()',
    notes: "Classic join requests carry no flags, so expectSingleResponse does not show.",
    expect: [{ name: "classic-remote-socket-join", check: typeIs(2, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      remoteForJoin.join("room5");
    },
  });
  await rec.step({
    call: 'io.serverSideEmit("ping", "x", 1)',
    expect: [{ name: "classic-request-server-side-emit", check: typeIs(6, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextServerSideEmit(s2, "/", "ping");
      s1.io.serverSideEmit("ping", "x", 1);
      await got;
    },
  });
  s2.io.on("ping-ack", (arg, cb) => cb(`pong:${arg}`));
  await rec.step({
    call: 'await io.serverSideEmitWithAck("ping-ack", "y")  // server 2: io.on("ping-ack", (arg, cb) => cb(`pong:${arg}`))',
    notes: "Reply goes to the shared response channel.",
    expect: [
      { name: "classic-request-server-side-emit-with-ack", check: typeIs(6, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-server-side-emit-ack", check: typeIs(6, `${K}-response#/#`, "PUBLISH") },
    ],
    run: async () => {
      const replies = await s1.io.serverSideEmitWithAck("ping-ack", "y");
      if (replies.length !== 1) throw new Error(`got ${replies.length} replies`);
    },
  });
  await rec.step({
    call: 'io.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN)',
    notes: 'JSON form: Buffer -> {"type":"Buffer","data":[..]}, Date -> ISO string, 1.0 -> 1, NaN -> null.',
    expect: [{ name: "classic-request-server-side-emit-binary-date-nan", check: typeIs(6, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextServerSideEmit(s2, "/", "ev");
      s1.io.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN);
      await got;
    },
  });
  await rec.step({
    call: 'io.serverSideEmit("json-numbers", 2.5, 1e21, 1e-7, 2 ** 40, -0, 0.1)',
    notes:
      "JSON.stringify number forms: 1e+21 and 1e-7 (Python's json writes 1e-07), -0 -> 0.",
    expect: [{ name: "classic-request-server-side-emit-json-numbers", check: typeIs(6, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextServerSideEmit(s2, "/", "json-numbers");
      s1.io.serverSideEmit("json-numbers", 2.5, 1e21, 1e-7, 2 ** 40, -0, 0.1);
      await got;
    },
  });
  await rec.step({
    call: 'io.serverSideEmit("json-strings", "é 日本語 🎉", "quote\\" backslash\\\\ slash/", "ctl\\n\\t\\u0000\\u001f\\u007f", "\\u2028\\u2029")',
    notes:
      "JSON.stringify writes non-ASCII raw (UTF-8), escapes only \" \\ and control chars (\\n, \\t, \\u0000, \\u001f; not DEL, not / and not U+2028/2029).",
    expect: [{ name: "classic-request-server-side-emit-json-strings", check: typeIs(6, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextServerSideEmit(s2, "/", "json-strings");
      s1.io.serverSideEmit("json-strings", "é 日本語 🎉", 'quote" backslash\\ slash/', "ctl\n\t\u0000\u001f\u007f", "\u2028\u2029");
      await got;
    },
  });
  await rec.step({
    call: 'await io.timeout(2000).emitWithAck("ack-me", 42)  // client acks with { got: 42 }',
    notes: "Request is msgpack type 7; client count is JSON type 8; each client ack is msgpack type 9.",
    expect: [
      { name: "classic-request-broadcast-with-ack", check: encodingIs("msgpack", typeIs(7, `${K}-request#/#`, "PUBLISH")) },
      { name: "classic-response-broadcast-client-count", check: encodingIs("json", typeIs(8, `${K}-response#/#`)) },
      { name: "classic-response-broadcast-ack", check: encodingIs("msgpack", typeIs(9, `${K}-response#/#`)) },
    ],
    run: async () => {
      const acks = await s1.io.timeout(2000).emitWithAck("ack-me", 42);
      if (acks.length !== 1) throw new Error(`got ${acks.length} acks`);
    },
  });
  await rec.step({
    call: 'await io.to("room1").timeout(2000).emitWithAck("ack-bin", Buffer.from([1, 2]))  // client acks with Buffer [0xca, 0xfe]',
    expect: [
      { name: "classic-request-broadcast-with-ack-binary", check: typeIs(7, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-broadcast-client-count-2", check: typeIs(8, `${K}-response#/#`) },
      { name: "classic-response-broadcast-ack-binary", check: typeIs(9, `${K}-response#/#`) },
    ],
    run: async () => {
      await s1.io.to("room1").timeout(2000).emitWithAck("ack-bin", Buffer.from([1, 2]));
    },
  });
  await rec.step({
    call: 'await io.to("nobody").timeout(2000).emitWithAck("ack-none")',
    notes: "No matching client: the other server still reports clientCount 0.",
    expect: [
      { name: "classic-request-broadcast-with-ack-no-clients", check: typeIs(7, `${K}-request#/#`, "PUBLISH") },
      { name: "classic-response-broadcast-client-count-zero", check: typeIs(8, `${K}-response#/#`) },
    ],
    run: async () => {
      await s1.io.to("nobody").timeout(2000).emitWithAck("ack-none");
    },
  });
  await rec.step({
    call: 'io.of("/admin").in("admins").fetchSockets()',
    expect: [
      { name: "classic-admin-request-fetch-sockets", check: typeIs(5, `${K}-request#/admin#`, "PUBLISH") },
      { name: "classic-admin-response-fetch-sockets", check: on(`${K}-response#/admin#`, "PUBLISH") },
    ],
    run: async () => {
      await s1.io.of("/admin").in("admins").fetchSockets();
    },
  });
  await rec.step({
    call: 'io.of("/admin").serverSideEmit("admin-ping", 1)',
    expect: [{ name: "classic-admin-request-server-side-emit", check: typeIs(6, `${K}-request#/admin#`, "PUBLISH") }],
    run: async () => {
      const got = nextServerSideEmit(s2, "/admin", "admin-ping");
      s1.io.of("/admin").serverSideEmit("admin-ping", 1);
      await got;
    },
  });

  // disconnects (dedicated clients, so c1 stays connected)
  const soft = await connectClient(s2, "/", { rooms: ["victims-soft"] });
  const hard = await connectClient(s2, "/", { rooms: ["victims-hard"] });
  await rec.step({
    call: 'io.in("victims-soft").disconnectSockets(false)',
    expect: [{ name: "classic-request-disconnect-sockets", check: typeIs(4, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const gone = nextDisconnect(soft);
      s1.io.in("victims-soft").disconnectSockets(false);
      await gone;
    },
  });
  await rec.step({
    call: 'io.in("victims-hard").disconnectSockets(true)',
    expect: [{ name: "classic-request-disconnect-sockets-close", check: typeIs(4, `${K}-request#/#`, "PUBLISH") }],
    run: async () => {
      const gone = nextDisconnect(hard);
      s1.io.in("victims-hard").disconnectSockets(true);
      await gone;
    },
  });
  for (const c of [c1, cAdmin, soft, hard]) c.close();
  await s1.close();
  await s2.close();

  // --- phase 2: responder with publishOnSpecificResponseChannel -------------------------
  const p1 = await startServer(redisUrl, { mode: "classic" });
  const p2 = await startServer(redisUrl, { mode: "classic", adapterOpts: { publishOnSpecificResponseChannel: true } });
  const pu1 = p1.adapter().uid;
  const pc = await connectClient(p2, "/", { rooms: ["room1"], data: { user: "alice", n: 2 } });
  const specific = `${K}-response#/#${pu1}#`;
  const sNote = "Responder has publishOnSpecificResponseChannel: true.";
  await rec.step({
    call: 'io.of("/").adapter.allRooms()',
    notes: sNote,
    expect: [
      { name: "classic-specific-request-all-rooms", check: typeIs(1, `${K}-request#/#`) },
      { name: "classic-specific-response-all-rooms", check: on(specific, "PUBLISH") },
    ],
    run: async () => {
      await p1.adapter().allRooms();
    },
  });
  await rec.step({
    call: 'io.in("room1").fetchSockets()',
    notes: sNote,
    expect: [
      { name: "classic-specific-request-fetch-sockets", check: typeIs(5, `${K}-request#/#`) },
      { name: "classic-specific-response-fetch-sockets", check: on(specific, "PUBLISH") },
    ],
    run: async () => {
      await p1.io.in("room1").fetchSockets();
    },
  });
  await rec.step({
    call: 'await io.timeout(2000).emitWithAck("ack-me", 7)',
    notes: sNote,
    expect: [
      { name: "classic-specific-request-broadcast-with-ack", check: typeIs(7, `${K}-request#/#`) },
      { name: "classic-specific-response-broadcast-client-count", check: typeIs(8, specific) },
      { name: "classic-specific-response-broadcast-ack", check: typeIs(9, specific) },
    ],
    run: async () => {
      await p1.io.timeout(2000).emitWithAck("ack-me", 7);
    },
  });
  p2.io.on("ping-ack", (arg, cb) => cb(`pong:${arg}`));
  await rec.step({
    call: 'await io.serverSideEmitWithAck("ping-ack", "z")',
    notes: `${sNote} The serverSideEmit ack reply still goes to the shared response channel.`,
    expect: [
      { name: "classic-specific-request-server-side-emit-with-ack", check: typeIs(6, `${K}-request#/#`) },
      { name: "classic-specific-response-server-side-emit-ack", check: typeIs(6, `${K}-response#/#`) },
    ],
    run: async () => {
      await p1.io.serverSideEmitWithAck("ping-ack", "z");
    },
  });
  pc.close();
  await p1.close();
  await p2.close();

  // --- phase 3: non-default key --------------------------------------------------------
  const M = "myapp";
  const m1 = await startServer(redisUrl, { mode: "classic", adapterOpts: { key: M } });
  const m2 = await startServer(redisUrl, { mode: "classic", adapterOpts: { key: M } });
  const mc = await connectClient(m2, "/", { rooms: ["room1"] });
  const keyNote = 'Adapter option key: "myapp".';
  await rec.step({
    call: 'io.emit("hello", "myapp")',
    notes: keyNote,
    expect: [{ name: "classic-key-broadcast-all", check: on(`${M}#/#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(mc, "hello");
      m1.io.emit("hello", "myapp");
      await got;
    },
  });
  await rec.step({
    call: 'io.to("room1").emit("hello", "myapp-room")',
    notes: keyNote,
    expect: [{ name: "classic-key-broadcast-room", check: on(`${M}#/#room1#`, "PUBLISH") }],
    run: async () => {
      const got = nextEvent(mc, "hello");
      m1.io.to("room1").emit("hello", "myapp-room");
      await got;
    },
  });
  await rec.step({
    call: 'io.fetchSockets()',
    notes: keyNote,
    expect: [
      { name: "classic-key-request-fetch-sockets", check: typeIs(5, `${M}-request#/#`) },
      { name: "classic-key-response-fetch-sockets", check: on(`${M}-response#/#`) },
    ],
    run: async () => {
      await m1.io.fetchSockets();
    },
  });
  await rec.step({
    call: 'io.serverSideEmit("ping", "myapp")',
    notes: keyNote,
    expect: [{ name: "classic-key-request-server-side-emit", check: typeIs(6, `${M}-request#/#`) }],
    run: async () => {
      const got = nextServerSideEmit(m2, "/", "ping");
      m1.io.serverSideEmit("ping", "myapp");
      await got;
    },
  });
  mc.close();
  await m1.close();
  await m2.close();
}

// ---------------------------------------------------------------------------
// emitter

async function captureEmitter(ctx) {
  const { redisUrl, rec } = ctx;
  const K = "socket.io";
  const s = await startServer(redisUrl, { mode: "classic", namespaces: ["/", "/admin"] });
  const c1 = await connectClient(s, "/", { rooms: ["room1"], data: { user: "bob", n: 1 } });
  const cAdmin = await connectClient(s, "/admin", { rooms: ["admins"] });
  const client = createClient({ url: redisUrl });
  client.on("error", (err) => console.error("emitter redis error:", err.message));
  await client.connect();
  const emitter = new Emitter(client);
  const E = (name, check) => ({ name, check });

  const emitStep = async (name, call, channel, fn, { client: target = c1, event, notes } = {}) => {
    await rec.step({
      call,
      notes,
      expect: [E(name, on(channel, "PUBLISH"))],
      run: async () => {
        const got = event ? nextEvent(target, event) : null;
        fn();
        if (got) await got;
      },
    });
  };

  await emitStep("emitter-emit-all", 'emitter.emit("hello", "world")', `${K}#/#`, () => emitter.emit("hello", "world"), { event: "hello" });
  await emitStep("emitter-emit-room", 'emitter.to("room1").emit("hello", { x: 1 })', `${K}#/#room1#`, () => emitter.to("room1").emit("hello", { x: 1 }), { event: "hello" });
  await emitStep(
    "emitter-emit-rooms",
    'emitter.to("room1").to(["room2", "room3"]).emit("hello", 2)',
    `${K}#/#`,
    () => emitter.to("room1").to(["room2", "room3"]).emit("hello", 2),
    { event: "hello", notes: "Several rooms -> base channel. Emitter opts key order: rooms, flags, except." },
  );
  await emitStep("emitter-emit-except", 'emitter.except("room3").emit("hello", 3)', `${K}#/#`, () => emitter.except("room3").emit("hello", 3), { event: "hello" });
  await emitStep(
    "emitter-emit-room-except",
    'emitter.to("room1").except(["room2", "room3"]).emit("hello", 4)',
    `${K}#/#room1#`,
    () => emitter.to("room1").except(["room2", "room3"]).emit("hello", 4),
    { event: "hello" },
  );
  await emitStep("emitter-emit-volatile", 'emitter.volatile.emit("hello", 5)', `${K}#/#`, () => emitter.volatile.emit("hello", 5), { event: "hello" });
  await emitStep("emitter-emit-compress-false", 'emitter.compress(false).emit("hello", 6)', `${K}#/#`, () => emitter.compress(false).emit("hello", 6), { event: "hello" });
  await emitStep(
    "emitter-emit-flags-room",
    'emitter.to("room1").compress(false).volatile.emit("hello", 7)',
    `${K}#/#room1#`,
    () => emitter.to("room1").compress(false).volatile.emit("hello", 7),
    { event: "hello", notes: "flags map keeps the order the flags were set in." },
  );
  await emitStep(
    "emitter-of-admin",
    'emitter.of("admin").emit("admin-hello", 1)',
    `${K}#/admin#`,
    () => emitter.of("admin").emit("admin-hello", 1),
    { client: cAdmin, event: "admin-hello", notes: 'of("admin") and of("/admin") both give nsp "/admin".' },
  );
  await emitStep(
    "emitter-of-admin-room",
    'emitter.of("/admin").to("admins").emit("admin-room", "x")',
    `${K}#/admin#admins#`,
    () => emitter.of("/admin").to("admins").emit("admin-room", "x"),
    { client: cAdmin, event: "admin-room" },
  );
  await emitStep(
    "emitter-of-admin-volatile-except",
    'emitter.of("admin").volatile.except("r3").emit("evt", 1.5, -1, 300, "é")',
    `${K}#/admin#`,
    () => emitter.of("admin").volatile.except("r3").emit("evt", 1.5, -1, 300, "é"),
    { client: cAdmin, event: "evt" },
  );
  await emitStep(
    "emitter-emit-binary",
    'emitter.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]), list: [Buffer.alloc(0)] })',
    `${K}#/#`,
    () => emitter.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]), list: [Buffer.alloc(0)] }),
    { event: "bin" },
  );
  await emitStep(
    "emitter-emit-date",
    'emitter.emit("date", new Date(1700000000123), new Date(0), new Date(-1), new Date(2 ** 32 * 1000))',
    `${K}#/#`,
    () => emitter.emit("date", new Date(1700000000123), new Date(0), new Date(-1), new Date(2 ** 32 * 1000)),
    {
      event: "date",
      notes: "msgpack timestamp ext -1: d6 (32-bit, whole seconds), d7 (64-bit), c7 0c (96-bit, negative or >= 2^34 s).",
    },
  );
  await emitStep(
    "emitter-emit-undefined-null",
    'emitter.emit("nothing", undefined, null, { a: undefined, b: null })',
    `${K}#/#`,
    () => emitter.emit("nothing", undefined, null, { a: undefined, b: null }),
    { event: "nothing", notes: "undefined in an array -> nil; undefined object value -> key omitted." },
  );
  await emitStep(
    "emitter-emit-numbers",
    'emitter.emit("numbers", 1, 2.5, -1, 300, 1.0, 2 ** 40, NaN)',
    `${K}#/#`,
    () => emitter.emit("numbers", 1, 2.5, -1, 300, 1.0, 2 ** 40, NaN),
    { event: "numbers" },
  );
  await emitStep(
    "emitter-emit-socket-id",
    "emitter.to(socketId).emit(\"direct\", 1)",
    `${K}#/#${c1.id}#`,
    () => emitter.to(c1.id).emit("direct", 1),
    { event: "direct" },
  );

  const reqStep = async (name, call, channel, type, fn, notes) => {
    await rec.step({
      call,
      notes,
      expect: [E(name, typeIs(type, channel, "PUBLISH"))],
      run: async () => {
        fn();
      },
    });
  };
  await reqStep("emitter-sockets-join", 'emitter.in("room1").socketsJoin("room2")', `${K}-request#/#`, 2, () => emitter.in("room1").socketsJoin("room2"), "No uid in emitter join/leave/disconnect requests; a single room becomes [room].");
  await reqStep("emitter-sockets-join-all", 'emitter.socketsJoin(["room6", "room7"])', `${K}-request#/#`, 2, () => emitter.socketsJoin(["room6", "room7"]));
  await reqStep("emitter-sockets-leave", 'emitter.in("room1").except("room9").socketsLeave(["room2"])', `${K}-request#/#`, 3, () => emitter.in("room1").except("room9").socketsLeave(["room2"]));
  await reqStep("emitter-sockets-leave-all", 'emitter.socketsLeave("room6")', `${K}-request#/#`, 3, () => emitter.socketsLeave("room6"));
  await reqStep("emitter-admin-sockets-join", 'emitter.of("admin").in("admins").socketsJoin("vip")', `${K}-request#/admin#`, 2, () => emitter.of("admin").in("admins").socketsJoin("vip"));

  const victim = await connectClient(s, "/", { rooms: ["victims"] });
  await rec.step({
    call: 'emitter.in("victims").disconnectSockets(true)',
    expect: [E("emitter-disconnect-sockets-close", typeIs(4, `${K}-request#/#`, "PUBLISH"))],
    run: async () => {
      const gone = nextDisconnect(victim);
      emitter.in("victims").disconnectSockets(true);
      await gone;
    },
  });
  await reqStep(
    "emitter-disconnect-sockets-default",
    'emitter.in("nobody").disconnectSockets()',
    `${K}-request#/#`,
    4,
    () => emitter.in("nobody").disconnectSockets(),
    "close defaults to false.",
  );
  await rec.step({
    call: 'emitter.serverSideEmit("ping", "x")',
    notes: 'uid is "emitter".',
    expect: [E("emitter-server-side-emit", typeIs(6, `${K}-request#/#`, "PUBLISH"))],
    run: async () => {
      const got = nextServerSideEmit(s, "/", "ping");
      emitter.serverSideEmit("ping", "x");
      await got;
    },
  });
  await rec.step({
    call: 'emitter.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN, undefined)',
    notes: "JSON form (Buffer object, ISO date, NaN and undefined -> null).",
    expect: [E("emitter-server-side-emit-binary-date", typeIs(6, `${K}-request#/#`, "PUBLISH"))],
    run: async () => {
      const got = nextServerSideEmit(s, "/", "ev");
      emitter.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN, undefined);
      await got;
    },
  });
  await rec.step({
    call: 'emitter.of("admin").serverSideEmit("admin-ping", { a: 1 })',
    expect: [E("emitter-admin-server-side-emit", typeIs(6, `${K}-request#/admin#`, "PUBLISH"))],
    run: async () => {
      const got = nextServerSideEmit(s, "/admin", "admin-ping");
      emitter.of("admin").serverSideEmit("admin-ping", { a: 1 });
      await got;
    },
  });

  const my = new Emitter(client, { key: "myapp" });
  await emitStep("emitter-key-emit-all", 'new Emitter(client, { key: "myapp" }).emit("hello", 1)', "myapp#/#", () => my.emit("hello", 1), { notes: 'Emitter option key: "myapp".' });
  await emitStep("emitter-key-emit-room", 'new Emitter(client, { key: "myapp" }).to("room1").emit("hello", 2)', "myapp#/#room1#", () => my.to("room1").emit("hello", 2), { notes: 'Emitter option key: "myapp".' });
  await reqStep("emitter-key-sockets-join", 'new Emitter(client, { key: "myapp" }).in("room1").socketsJoin("room2")', "myapp-request#/#", 2, () => my.in("room1").socketsJoin("room2"), 'Emitter option key: "myapp".');
  await reqStep("emitter-key-server-side-emit", 'new Emitter(client, { key: "myapp" }).serverSideEmit("ping", 1)', "myapp-request#/#", 6, () => my.serverSideEmit("ping", 1), 'Emitter option key: "myapp".');
  await emitStep(
    "emitter-key-of-admin",
    'new Emitter(client, { key: "myapp" }).of("admin").emit("hello", 3)',
    "myapp#/admin#",
    () => my.of("admin").emit("hello", 3),
    { notes: 'Emitter option key: "myapp".' },
  );

  for (const c of [c1, cAdmin, victim]) c.close();
  await client.quit();
  await s.close();
}

// ---------------------------------------------------------------------------
// sharded adapter

async function captureSharded(ctx, mode) {
  const { redisUrl, rec, verifier } = ctx;
  const P = "socket.io";
  const pre = `sharded-${mode}`;
  const opts = { subscriptionMode: mode };
  const s1 = await startServer(redisUrl, { mode: "sharded", adapterOpts: opts, namespaces: ["/", "/admin"] });
  const s2 = await startServer(redisUrl, { mode: "sharded", adapterOpts: opts, namespaces: ["/", "/admin"] });
  const u1 = s1.adapter().uid;
  const c1 = await connectClient(s2, "/", { rooms: ["room1"], data: { user: "bob", n: 1 } });
  const cAdmin = await connectClient(s2, "/admin", { rooms: ["admins"] });
  const sid = c1.id;
  const ROOM20 = "abcdefghijklmnopqrst"; // a 20-char room name that is not a socket id
  // Not the base channels: an extra SSUBSCRIBE there would count as a server in SHARDNUMSUB.
  await verifier.sSubscribe(
    [
      `${P}#/#${u1}#`, `${P}#/#${s2.adapter().uid}#`, `${P}#/admin#${s1.adapter("/admin").uid}#`,
      `${P}#/#room1#`, `${P}#/#room2#`, `${P}#/#${sid}#`, `${P}#/admin#admins#`, `${P}#/#${ROOM20}#`,
    ],
  );
  const base = `${P}#/#`;
  const resp1 = `${P}#/#${u1}#`;
  const modeNote = `subscriptionMode: "${mode}".`;
  const roomChannel = mode === "static" ? base : `${P}#/#room1#`;
  const sidChannel = mode === "dynamic-private" ? `${P}#/#${sid}#` : base;
  const full = mode === "dynamic";

  await rec.step({
    call: 'io.emit("hello", "world")',
    notes: modeNote,
    expect: [{ name: `${pre}-broadcast-all`, check: encodingIs("json", typeIs(3, base, "SPUBLISH")) }],
    run: async () => {
      const got = nextEvent(c1, "hello");
      s1.io.emit("hello", "world");
      await got;
    },
  });
  await rec.step({
    call: 'io.to("room1").emit("hello", "world", 1, 2.5, { a: true })',
    notes: `${modeNote} ${mode === "static" ? "static: always the base channel." : "One room, no ack -> the room channel."}`,
    expect: [{ name: `${pre}-broadcast-room`, check: typeIs(3, roomChannel, "SPUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "hello");
      s1.io.to("room1").emit("hello", "world", 1, 2.5, { a: true });
      await got;
    },
  });
  await rec.step({
    call: 'io.to(socketId).emit("direct", 1)',
    notes: `${modeNote} ${
      mode === "dynamic-private"
        ? "dynamic-private: the socket-id room gets its own channel."
        : mode === "dynamic"
          ? "dynamic: a 20-char room is taken for a socket id -> base channel."
          : "static: always the base channel."
    }`,
    expect: [{ name: `${pre}-broadcast-socket-id`, check: typeIs(3, sidChannel, "SPUBLISH") }],
    run: async () => {
      const got = nextEvent(c1, "direct");
      s1.io.to(sid).emit("direct", 1);
      await got;
    },
  });
  if (mode !== "static") {
    await rec.step({
      call: `io.to("${ROOM20}").emit("room20", 1)  // a 20-char room that is not a socket id`,
      notes: `${modeNote} ${
        mode === "dynamic"
          ? "The sender only looks at the length (20) -> base channel, although receivers subscribe to the room channel."
          : "dynamic-private: room channel."
      }`,
      expect: [{ name: `${pre}-broadcast-room-20-chars`, check: typeIs(3, mode === "dynamic" ? base : `${P}#/#${ROOM20}#`, "SPUBLISH") }],
      run: async () => {
        s1.io.to(ROOM20).emit("room20", 1);
      },
    });
  }
  await rec.step({
    call: 'await io.to("room1").timeout(2000).emitWithAck("ack-me", 42)  // client acks { got: 42 }',
    notes: `${modeNote} Broadcasts with ack always use the base channel; replies go to the requester's response channel.`,
    expect: [
      { name: `${pre}-broadcast-room-with-ack`, check: typeIs(3, base, "SPUBLISH") },
      { name: `${pre}-response-broadcast-client-count`, check: encodingIs("json", typeIs(11, resp1, "SPUBLISH")) },
      { name: `${pre}-response-broadcast-ack`, check: encodingIs("json", typeIs(12, resp1, "SPUBLISH")) },
    ],
    run: async () => {
      const acks = await s1.io.to("room1").timeout(2000).emitWithAck("ack-me", 42);
      if (acks.length !== 1) throw new Error(`got ${acks.length} acks`);
    },
  });

  if (full) {
    await rec.step({
      call: 'io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("multi", "x")',
      notes: modeNote,
      expect: [{ name: `${pre}-broadcast-multi-room-except-flags`, check: typeIs(3, base, "SPUBLISH") }],
      run: async () => {
        const got = nextEvent(c1, "multi");
        s1.io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("multi", "x");
        await got;
      },
    });
    await rec.step({
      call: 'io.emit("bin", Buffer.from([1, 2, 3]))',
      notes: `${modeNote} Binary in data -> the whole envelope is msgpack.`,
      expect: [{ name: `${pre}-broadcast-binary`, check: encodingIs("msgpack", typeIs(3, base, "SPUBLISH")) }],
      run: async () => {
        const got = nextEvent(c1, "bin");
        s1.io.emit("bin", Buffer.from([1, 2, 3]));
        await got;
      },
    });
    await rec.step({
      call: 'io.to("room1").emit("bin-room", { file: Buffer.from([0xde, 0xad]) }, [Buffer.alloc(0)])',
      notes: modeNote,
      expect: [{ name: `${pre}-broadcast-room-binary-nested`, check: encodingIs("msgpack", typeIs(3, roomChannel, "SPUBLISH")) }],
      run: async () => {
        const got = nextEvent(c1, "bin-room");
        s1.io.to("room1").emit("bin-room", { file: Buffer.from([0xde, 0xad]) }, [Buffer.alloc(0)]);
        await got;
      },
    });
    await rec.step({
      call: 'io.emit("date-only", new Date(1700000000123))',
      notes: `${modeNote} A Date is not binary: the message stays JSON (ISO string).`,
      expect: [{ name: `${pre}-broadcast-date-json`, check: encodingIs("json", typeIs(3, base, "SPUBLISH")) }],
      run: async () => {
        const got = nextEvent(c1, "date-only");
        s1.io.emit("date-only", new Date(1700000000123));
        await got;
      },
    });
    await rec.step({
      call: 'await io.timeout(2000).emitWithAck("ack-bin", Buffer.from([1]))  // client acks with Buffer [0xca, 0xfe]',
      notes: `${modeNote} Binary request -> msgpack type 3; binary client ack -> msgpack type 12; count stays JSON.`,
      expect: [
        { name: `${pre}-broadcast-with-ack-binary`, check: encodingIs("msgpack", typeIs(3, base, "SPUBLISH")) },
        { name: `${pre}-response-broadcast-client-count-2`, check: encodingIs("json", typeIs(11, resp1)) },
        { name: `${pre}-response-broadcast-ack-binary`, check: encodingIs("msgpack", typeIs(12, resp1)) },
      ],
      run: async () => {
        await s1.io.timeout(2000).emitWithAck("ack-bin", Buffer.from([1]));
      },
    });
    await rec.step({
      call: 'await io.to("nobody").timeout(2000).emitWithAck("ack-none")',
      notes: `${modeNote} No matching client: clientCount 0 is still sent.`,
      expect: [
        { name: `${pre}-broadcast-with-ack-no-clients`, check: typeIs(3, base, "SPUBLISH") },
        { name: `${pre}-response-broadcast-client-count-zero`, check: typeIs(11, resp1) },
      ],
      run: async () => {
        await s1.io.to("nobody").timeout(2000).emitWithAck("ack-none");
      },
    });
    await rec.step({
      call: 'io.in("room1").socketsJoin(["room2"])',
      notes: modeNote,
      expect: [{ name: `${pre}-sockets-join`, check: typeIs(4, base, "SPUBLISH") }],
      run: async () => {
        s1.io.in("room1").socketsJoin(["room2"]);
      },
    });
    await rec.step({
      call: 'io.in("room1").socketsLeave("room2")',
      notes: modeNote,
      expect: [{ name: `${pre}-sockets-leave`, check: typeIs(5, base, "SPUBLISH") }],
      run: async () => {
        s1.io.in("room1").socketsLeave("room2");
      },
    });
    await rec.step({
      call: 'io.in("room1").fetchSockets()',
      notes: modeNote,
      expect: [
        { name: `${pre}-fetch-sockets`, check: typeIs(7, base, "SPUBLISH") },
        { name: `${pre}-response-fetch-sockets`, check: encodingIs("json", typeIs(8, resp1, "SPUBLISH")) },
      ],
      run: async () => {
        const sockets = await s1.io.in("room1").fetchSockets();
        if (sockets.length !== 1) throw new Error(`fetchSockets returned ${sockets.length}`);
      },
    });
    await rec.step({
      call: 'io.timeout(3000).except("room1").fetchSockets()',
      notes: `${modeNote} flags.timeout travels in opts; empty answer still sent.`,
      expect: [
        { name: `${pre}-fetch-sockets-except-timeout`, check: typeIs(7, base, "SPUBLISH") },
        { name: `${pre}-response-fetch-sockets-empty`, check: typeIs(8, resp1, "SPUBLISH") },
      ],
      run: async () => {
        await s1.io.timeout(3000).except("room1").fetchSockets();
      },
    });
    const srvSock = s2.socket("/", sid);
    const savedData = srvSock.data;
    srvSock.data = { user: "bob", avatar: Buffer.from([1, 2, 3]), since: new Date(1700000000123) };
    await rec.step({
      call: 'io.in("room1").fetchSockets()  // the remote socket.data = { user: "bob", avatar: Buffer [1,2,3], since: new Date(1700000000123) }',
      notes: `${modeNote} Binary socket.data -> the whole type-8 response is msgpack (the Date becomes a timestamp ext).`,
      expect: [
        { name: `${pre}-fetch-sockets-2`, check: typeIs(7, base, "SPUBLISH") },
        { name: `${pre}-response-fetch-sockets-binary-data`, check: encodingIs("msgpack", typeIs(8, resp1, "SPUBLISH")) },
      ],
      run: async () => {
        await s1.io.in("room1").fetchSockets();
      },
    });
    srvSock.data = savedData;
    const [remote] = await s1.io.in("room1").fetchSockets();
    await rec.step({
      call: 'remoteSocket.join("room5")  // remoteSocket from an earlier fetchSockets()',
      notes: `${modeNote} RemoteSocket operations carry flags {expectSingleResponse: true}, visible in sharded opts.`,
      expect: [{ name: `${pre}-remote-socket-join`, check: typeIs(4, base, "SPUBLISH") }],
      run: async () => {
        remote.join("room5");
      },
    });
    await rec.step({
      call: 'remoteSocket.emit("remote-hi", 1)',
      notes: `${modeNote} One 20-char room -> base channel in dynamic mode.`,
      expect: [{ name: `${pre}-remote-socket-emit`, check: typeIs(3, base, "SPUBLISH") }],
      run: async () => {
        const got = nextEvent(c1, "remote-hi");
        remote.emit("remote-hi", 1);
        await got;
      },
    });
    await rec.step({
      call: 'io.serverSideEmit("ping", "x", 1)',
      notes: modeNote,
      expect: [{ name: `${pre}-server-side-emit`, check: encodingIs("json", typeIs(9, base, "SPUBLISH")) }],
      run: async () => {
        const got = nextServerSideEmit(s2, "/", "ping");
        s1.io.serverSideEmit("ping", "x", 1);
        await got;
      },
    });
    s2.io.on("ping-ack", (arg, cb) => cb(`pong:${arg}`));
    await rec.step({
      call: 'await io.serverSideEmitWithAck("ping-ack", "y")  // server 2: io.on("ping-ack", (arg, cb) => cb(`pong:${arg}`))',
      notes: modeNote,
      expect: [
        { name: `${pre}-server-side-emit-with-ack`, check: typeIs(9, base, "SPUBLISH") },
        { name: `${pre}-response-server-side-emit`, check: encodingIs("json", typeIs(10, resp1, "SPUBLISH")) },
      ],
      run: async () => {
        const replies = await s1.io.serverSideEmitWithAck("ping-ack", "y");
        if (replies.length !== 1) throw new Error(`got ${replies.length} replies`);
      },
    });
    s2.io.on("ping-bin", (arg, cb) => cb(Buffer.from([0xbe, 0xef])));
    await rec.step({
      call: 'await io.serverSideEmitWithAck("ping-bin", Buffer.from([7]))  // server 2 acks with Buffer [0xbe, 0xef]',
      notes: `${modeNote} Binary request and binary reply are msgpack.`,
      expect: [
        { name: `${pre}-server-side-emit-with-ack-binary`, check: encodingIs("msgpack", typeIs(9, base, "SPUBLISH")) },
        { name: `${pre}-response-server-side-emit-binary`, check: encodingIs("msgpack", typeIs(10, resp1, "SPUBLISH")) },
      ],
      run: async () => {
        await s1.io.serverSideEmitWithAck("ping-bin", Buffer.from([7]));
      },
    });
    await rec.step({
      call: 'io.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN)',
      notes: `${modeNote} msgpack because of the Buffer: the Date stays a timestamp ext, 1.0 is int 1, NaN float64.`,
      expect: [{ name: `${pre}-server-side-emit-binary-date-nan`, check: encodingIs("msgpack", typeIs(9, base, "SPUBLISH")) }],
      run: async () => {
        const got = nextServerSideEmit(s2, "/", "ev");
        s1.io.serverSideEmit("ev", Buffer.from([1, 2]), new Date(0), 1.0, NaN);
        await got;
      },
    });
    await rec.step({
      call: 'io.serverSideEmit("ev2", new Date(0), 1.0, NaN)',
      notes: `${modeNote} Without binary the message is JSON: ISO date, 1, null.`,
      expect: [{ name: `${pre}-server-side-emit-date-nan-json`, check: encodingIs("json", typeIs(9, base, "SPUBLISH")) }],
      run: async () => {
        const got = nextServerSideEmit(s2, "/", "ev2");
        s1.io.serverSideEmit("ev2", new Date(0), 1.0, NaN);
        await got;
      },
    });
    await rec.step({
      call: 'io.of("/admin").to("admins").emit("admin-room", 1)',
      notes: modeNote,
      expect: [{ name: `${pre}-admin-broadcast-room`, check: typeIs(3, `${P}#/admin#admins#`, "SPUBLISH") }],
      run: async () => {
        const got = nextEvent(cAdmin, "admin-room");
        s1.io.of("/admin").to("admins").emit("admin-room", 1);
        await got;
      },
    });
    await rec.step({
      call: 'io.of("/admin").emit("admin-hello", 2)',
      notes: modeNote,
      expect: [{ name: `${pre}-admin-broadcast-all`, check: typeIs(3, `${P}#/admin#`, "SPUBLISH") }],
      run: async () => {
        const got = nextEvent(cAdmin, "admin-hello");
        s1.io.of("/admin").emit("admin-hello", 2);
        await got;
      },
    });
    await rec.step({
      call: 'io.of("/admin").fetchSockets()',
      notes: modeNote,
      expect: [
        { name: `${pre}-admin-fetch-sockets`, check: typeIs(7, `${P}#/admin#`, "SPUBLISH") },
        { name: `${pre}-admin-response-fetch-sockets`, check: typeIs(8, `${P}#/admin#${s1.adapter("/admin").uid}#`, "SPUBLISH") },
      ],
      run: async () => {
        await s1.io.of("/admin").fetchSockets();
      },
    });
    const heartbeatNote =
      "Not sent by the sharded adapter in normal operation; produced by calling the real ShardedRedisAdapter instance's publish() (ClusterAdapter.publish adds uid and nsp, then doPublish picks the channel and encodes), so the bytes come from Node's own encoder.";
    for (const [type, label] of [[1, "initial-heartbeat"], [2, "heartbeat"], [13, "adapter-close"]]) {
      await rec.step({
        call: `io.of("/").adapter.publish({ type: ${type} })`,
        notes: `${modeNote} ${heartbeatNote}`,
        expect: [{ name: `${pre}-${label}`, check: encodingIs("json", typeIs(type, base, "SPUBLISH")) }],
        run: async () => {
          s1.adapter().publish({ type });
        },
      });
    }
    const soft = await connectClient(s2, "/", { rooms: ["victims-soft"] });
    const hard = await connectClient(s2, "/", { rooms: ["victims-hard"] });
    await rec.step({
      call: 'io.in("victims-soft").disconnectSockets()',
      notes: modeNote,
      expect: [{ name: `${pre}-disconnect-sockets`, check: typeIs(6, base, "SPUBLISH") }],
      run: async () => {
        const gone = nextDisconnect(soft);
        s1.io.in("victims-soft").disconnectSockets();
        await gone;
      },
    });
    await rec.step({
      call: 'io.in("victims-hard").disconnectSockets(true)',
      notes: modeNote,
      expect: [{ name: `${pre}-disconnect-sockets-close`, check: typeIs(6, base, "SPUBLISH") }],
      run: async () => {
        const gone = nextDisconnect(hard);
        s1.io.in("victims-hard").disconnectSockets(true);
        await gone;
      },
    });
    soft.close();
    hard.close();
  }

  for (const c of [c1, cAdmin]) c.close();
  await s1.close();
  await s2.close();
}

// ---------------------------------------------------------------------------

function crossCheck(vectors, verifier, label) {
  let checked = 0;
  const pool = verifier.received.slice();
  for (const v of vectors) {
    if (v.command === "SPUBLISH" && !verifier.shardedChannels.has(v.channel)) continue;
    const at = pool.findIndex((r) => r.cmd === v.command && r.channel === v.channel && r.hex === v.hex);
    if (at < 0) throw new Error(`${label}: subscriber never received ${v.name} (${v.command} ${v.channel})`);
    pool.splice(at, 1);
    checked++;
  }
  console.error(`${label}: ${checked}/${vectors.length} vectors byte-identical on a subscriber`);
}

function writeGroup(outDir, file, versions, environment, vectors) {
  const doc = { generated_by: GENERATED_BY, versions, environment, vectors };
  fs.writeFileSync(path.join(outDir, file), JSON.stringify(doc, null, 2) + "\n");
  const nonDet = vectors.filter((v) => !v.deterministic).map((v) => v.name);
  console.error(`wrote ${file}: ${vectors.length} vectors${nonDet.length ? `; not deterministic: ${nonDet.join(", ")}` : ""}`);
}

async function main() {
  const [portArg, outDir] = process.argv.slice(2);
  if (!portArg || !outDir) {
    console.error("usage: node tests/node/capture_vectors.js <redis-port> <out-dir>");
    process.exit(2);
  }
  const port = Number(portArg);
  if (port === 6379) {
    console.error("refusing to use port 6379: start a throwaway redis-server on another port");
    process.exit(2);
  }
  const redisUrl = `redis://127.0.0.1:${port}`;
  fs.mkdirSync(outDir, { recursive: true });

  const monitor = new Monitor(port);
  await monitor.start();
  const marker = createClient({ url: redisUrl });
  marker.on("error", (err) => console.error("marker redis error:", err.message));
  await marker.connect();
  const info = await marker.info("server");
  const redisVersion = (/redis_version:(\S+)/.exec(info) || [])[1];
  const verifier = new Verifier(redisUrl);
  await verifier.start();

  const versions = packageVersions();
  const environment = { node: process.version, "redis-server": redisVersion };

  const groups = [
    ["classic.json", async (ctx) => captureClassic(ctx)],
    ["emitter.json", async (ctx) => captureEmitter(ctx)],
    [
      "sharded.json",
      async (ctx) => {
        for (const mode of ["dynamic", "static", "dynamic-private"]) await captureSharded(ctx, mode);
      },
    ],
  ];
  // CAPTURE_ONLY=sharded.json (comma-separated) limits the run, for debugging
  const only = process.env.CAPTURE_ONLY ? process.env.CAPTURE_ONLY.split(",") : null;
  for (const [file, capture] of groups) {
    if (only && !only.includes(file)) continue;
    const rec = new Recorder(monitor, marker);
    verifier.received.length = 0;
    await capture({ redisUrl, rec, verifier });
    await sleep(SETTLE_MS);
    crossCheck(rec.vectors, verifier, file);
    writeGroup(outDir, file, versions, environment, rec.vectors);
  }

  await verifier.stop();
  await marker.quit();
  monitor.stop();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
