"use strict";
// Shared by the Node bench processes: the 64-byte payload (emit time in ms first) and pacing.

const now = () => performance.timeOrigin + performance.now();

function payload(seq, size) {
  const head = `${now().toFixed(3)}|${seq}|`;
  return head.length >= size ? head : head + "x".repeat(size - head.length);
}

// Call send(i) for i in [0, n) at `rate` per second (0 = as fast as possible, yielding to the
// event loop every 256 messages), then resolve.
function paced(n, rate, send) {
  return new Promise((resolve) => {
    const start = now();
    let i = 0;
    const tick = () => {
      const due = rate > 0 ? Math.min(n, Math.floor(((now() - start) / 1000) * rate) + 1) : n;
      let budget = rate > 0 ? Infinity : 256;
      while (i < due && budget-- > 0) send(i++);
      if (i >= n) return resolve();
      if (rate > 0) setTimeout(tick, 1);
      else setImmediate(tick);
    };
    tick();
  });
}

module.exports = { now, payload, paced };
