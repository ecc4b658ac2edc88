#!/usr/bin/env node
/*
 * Node emitter of the benchmark (@socket.io/redis-emitter 5 on node-redis 4).
 *   node bench/node/emit.js '{"redisUrl": "...", "n": 2000, "rate": 0, "size": 64, "room": "bench"}'
 * Publishes n messages to `room` (rate per second, 0 = as fast as possible), waits until Redis
 * has them all (a PING after the last publish), prints {"type":"done","seconds":..,"rate":..}.
 * The emitter's emit() is fire-and-forget: node-redis pipelines the publishes by itself.
 */
"use strict";

const { createClient } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");
const { now, payload, paced } = require("./common");

const cfg = JSON.parse(process.argv[2] || "{}");

async function main() {
  const client = createClient({ url: cfg.redisUrl });
  await client.connect();
  const emitter = new Emitter(client);
  const room = cfg.room || "bench";
  const size = cfg.size || 64;
  const t0 = now();
  await paced(cfg.n, cfg.rate || 0, (i) => emitter.to(room).emit("m", payload(i, size)));
  await client.ping();
  const seconds = (now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({ type: "done", n: cfg.n, seconds, rate: cfg.n / seconds }) + "\n"
  );
  await client.quit();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
