#!/usr/bin/env node
/*
 * Load process of the benchmark: connects socket.io-client websocket clients to the servers, counts
 * the deliveries of the "m" event and their latency (the payload starts with the emit time in ms).
 *
 *   node bench/node/load.js '{"urls": ["http://127.0.0.1:p1", ...], "clients": 50 | [50, 5, ...]}'
 *
 * Driven over stdin/stdout with JSON lines (stdout carries only those):
 *   -> {"type":"ready","clients":N}                 once every client is connected
 *   <- {"cmd":"expect","count":N,"idle":2.0,"timeout":60}
 *   -> {"type":"result",...}                        N deliveries seen, or no delivery for `idle` s
 *   <- {"cmd":"quit"}
 */
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

console.log = console.error;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => performance.timeOrigin + performance.now();

const cfg = JSON.parse(process.argv[2] || "{}");
const urls = cfg.urls || [];
// clients: one count for every URL, or a list with one count per URL
const counts = urls.map((_, i) => (Array.isArray(cfg.clients) ? cfg.clients[i] : cfg.clients || 50));
const total = counts.reduce((a, b) => a + b, 0);

let counting = false;
let count = 0;
let expected = 0;
let lat = new Float64Array(1);
let firstSent = Infinity;
let lastRecv = 0;
let firstRecv = 0;
let perClient = [];
let finish = null;

function onMessage(idx, payload) {
  if (!counting) return;
  const t = now();
  const sent = parseFloat(payload);
  if (count < lat.length) lat[count] = t - sent;
  count += 1;
  perClient[idx] += 1;
  if (sent < firstSent) firstSent = sent;
  if (!firstRecv) firstRecv = t;
  lastRecv = t;
  if (count >= expected && finish) finish("complete");
}

const sockets = [];
let connected = 0;
urls.forEach((url, u) => {
  for (let i = 0; i < counts[u]; i++) {
    const idx = sockets.length;
    const s = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
    s.on("connect", () => {
      connected += 1;
      if (connected === total) out({ type: "ready", clients: connected });
    });
    s.on("connect_error", (err) => {
      console.error("connect_error", url, err.message);
      process.exit(3);
    });
    s.on("m", (p) => onMessage(idx, p));
    sockets.push(s);
  }
});
perClient = new Array(sockets.length).fill(0);

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function expect(cmd) {
  count = 0;
  expected = cmd.count;
  lat = new Float64Array(expected);
  firstSent = Infinity;
  firstRecv = 0;
  lastRecv = 0;
  perClient = new Array(sockets.length).fill(0);
  const started = now();
  const idleMs = (cmd.idle || 2) * 1000;
  const timeoutMs = (cmd.timeout || 120) * 1000;
  counting = true;
  let timer = null;
  finish = (why) => {
    if (!counting) return;
    counting = false;
    finish = null;
    clearInterval(timer);
    const n = Math.min(count, lat.length);
    const sorted = Array.from(lat.subarray(0, n)).sort((a, b) => a - b);
    const span = lastRecv - firstSent;
    out({
      type: "result",
      why,
      count,
      expected,
      dropped: Math.max(0, expected - count),
      span_s: span / 1000,
      rate: span > 0 ? count / (span / 1000) : 0,
      recv_span_s: (lastRecv - firstRecv) / 1000,
      p50_ms: percentile(sorted, 50),
      p90_ms: percentile(sorted, 90),
      p99_ms: percentile(sorted, 99),
      max_ms: n ? sorted[n - 1] : null,
      min_per_client: Math.min(...perClient),
      max_per_client: Math.max(...perClient),
    });
  };
  timer = setInterval(() => {
    const t = now();
    if (count > 0 && t - lastRecv > idleMs) finish("idle");
    else if (count === 0 && t - started > timeoutMs) finish("timeout");
    else if (t - started > timeoutMs) finish("timeout");
  }, 50);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.cmd === "expect") expect(cmd);
  else if (cmd.cmd === "quit") {
    for (const s of sockets) s.close();
    setTimeout(() => process.exit(0), 100);
  }
});
rl.on("close", () => process.exit(0));
