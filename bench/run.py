"""One command for the whole comparison:  python -m bench [--quick] [--soak] [...]

Systems, run one after another on this machine (never concurrently: the CPU stays fair):

  node               Node socket.io 4.8 + @socket.io/redis-adapter 8, @socket.io/redis-emitter 5
  python-socketio    python-socketio AsyncRedisManager on uvicorn, its write-only manager emits
  sio-redis/uvicorn  sio_redis.AsyncRedisManager on uvicorn, sio_emitter emits
  sio-redis/aiohttp  the same on aiohttp

Each gets one Redis, two servers and a Node load process with ``--clients`` socket.io-client
websocket clients per server, all in one room. Phases per system: a burst of ``--burst``
messages (deliveries/s from the first emit to the last delivery), the same burst broadcast by
the servers themselves without Redis (the local baseline), a paced run (``--pace``
deliveries/s for ``--pace-seconds``: latency percentiles, drops), and RSS per idle socket on a
fresh server. Then: emitters alone, a 16-server run (CPU a server spends on broadcasts for rooms
it does not hold), a py-spy profile of our server, and optionally a soak. Results go to
docs/benchmarks.json, docs/benchmarks.png and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import profile as profiling
from bench.procs import (
    BENCH,
    ROOT,
    Proc,
    Procs,
    cpu_seconds,
    free_port,
    machine_busy_seconds,
    rss_kb,
)

PY = sys.executable

SYSTEMS: dict[str, dict[str, Any]] = {
    "node": {"server": "node", "emitter": "node"},
    "python-socketio": {"server": ("socketio", "uvicorn"), "emitter": "socketio"},
    "sio-redis/uvicorn": {"server": ("sioredis", "uvicorn"), "emitter": "sioredis"},
    "sio-redis/aiohttp": {"server": ("sioredis", "aiohttp"), "emitter": "sioredis"},
}
DEFAULT_SYSTEMS = list(SYSTEMS)
OURS = "sio-redis/uvicorn"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- process commands ---


def server_argv(
    server: Any, port: int, redis_url: str | None, room: str, sharded: bool
) -> list[str]:
    if server == "node":
        cfg = {"port": port, "redisUrl": redis_url, "room": room, "sharded": sharded}
        return ["node", str(BENCH / "node" / "server.js"), json.dumps(cfg)]
    system, host = server
    argv = [PY, "-m", "bench.server", "--system", system, "--host", host, "--port", str(port),
            "--redis-url", redis_url or "", "--room", room]
    return [*argv, "--sharded"] if sharded else argv


def emit_argv(
    emitter: str, redis_url: str, n: int, rate: float, size: int, room: str = "bench",
    sharded: bool = False, pipeline: bool | None = None,
) -> list[str]:
    if emitter == "node":
        cfg = {"redisUrl": redis_url, "n": n, "rate": rate, "size": size, "room": room}
        return ["node", str(BENCH / "node" / "emit.js"), json.dumps(cfg)]
    kind = emitter
    if emitter == "sioredis" and (pipeline if pipeline is not None else rate <= 0):
        kind = "sioredis-pipeline"  # a burst goes out in pipelines of 100, as Node's client does
    argv = [PY, "-m", "bench.emit", "--kind", kind, "--redis-url", redis_url, "--n", str(n),
            "--rate", str(rate), "--size", str(size), "--room", room, "--batch", "100"]
    return [*argv, "--sharded"] if sharded else argv


def run_emitter(procs: Procs, argv: list[str], name: str = "emitter", timeout: float = 300) -> dict:
    proc = procs.start(name, argv)
    try:
        done = proc.read(timeout)
        proc.wait(10)
        return done
    finally:
        procs.stop(proc)


class Cluster:
    """Servers of one system plus the load process."""

    def __init__(self, procs: Procs, system: str, redis_url: str, clients: list[int],
                 rooms: list[str], sharded: bool = False) -> None:
        self.procs = procs
        self.spec = SYSTEMS[system] if system in SYSTEMS else {"server": system}
        self.servers: list[Proc] = []
        self.ports: list[int] = []
        for i, room in enumerate(rooms):
            port = free_port()
            argv = server_argv(self.spec["server"], port, redis_url, room, sharded)
            self.servers.append(procs.start(f"{system.replace('/', '-')}-server{i}", argv))
            self.ports.append(port)
        for proc in self.servers:
            proc.read(60)  # ready
        urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.load = procs.start("load", ["node", str(BENCH / "node" / "load.js"),
                                         json.dumps({"urls": urls, "clients": clients})])
        self.load.read(120)
        self.clients = sum(c for c, r in zip(clients, rooms, strict=False) if r == "bench")

    def measure(self, messages: int, trigger: Any, idle: float = 3.0, timeout: float = 180) -> dict:
        self.load.send({"cmd": "expect", "count": messages * self.clients, "idle": idle,
                        "timeout": timeout})
        time.sleep(0.2)
        pids = [self.load.pid] + [p.pid for p in self.servers]
        cpu0 = [cpu_seconds(p) for p in pids]
        busy0 = machine_busy_seconds()
        extra = trigger() or {}
        result = self.load.read(timeout + idle + 30)
        # CPU seconds each process spent (the idle wait at the end included: ~0)
        cpu = [round(cpu_seconds(p) - c, 3) for p, c in zip(pids, cpu0, strict=False)]
        # the whole machine, to spot other work competing with the bench (emitter and Redis
        # included, so a little above load + servers even when nothing else runs)
        busy = round(machine_busy_seconds() - busy0, 2)
        result.update(extra, cpu_load_s=cpu[0], cpu_servers_s=cpu[1:], machine_busy_s=busy)
        if result["count"]:
            result["server_cpu_us_per_delivery"] = sum(cpu[1:]) / result["count"] * 1e6
        return result

    def local(self, n: int, rate: float, size: int) -> None:
        def hit(port: int) -> None:
            url = f"http://127.0.0.1:{port}/local?n={n}&rate={rate}&size={size}"
            urllib.request.urlopen(url, timeout=10).read()

        threads = [threading.Thread(target=hit, args=(p,)) for p in self.ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.load.send({"cmd": "quit"})
            self.load.wait(5)
        for proc in [self.load, *self.servers]:
            self.procs.stop(proc)


# --- phases ---


def fanout(procs: Procs, system: str, redis_url: str, o: argparse.Namespace) -> dict:
    spec = SYSTEMS[system]
    out: dict[str, Any] = {"burst": [], "local": [], "paced": []}
    cluster = Cluster(procs, system, redis_url, [o.clients, o.clients], ["bench", "bench"])
    try:
        def emit(n: int, rate: float) -> Any:
            return lambda: {"emitter": run_emitter(
                procs, emit_argv(spec["emitter"], redis_url, n, rate, o.size))}

        warm = cluster.measure(200, emit(200, 0))
        log(f"  warm-up: {warm['count']}/{warm['expected']} delivered")
        for r in range(o.repeats):
            res = cluster.measure(o.burst, emit(o.burst, 0))
            out["burst"].append(res)
            log(f"  burst {r + 1}: {res['rate']:,.0f} deliveries/s, p99 {res['p99_ms']:.0f} ms, "
                f"dropped {res['dropped']}; {res['span_s']:.2f}s, CPU s: load "
                f"{res['cpu_load_s']}, servers {res['cpu_servers_s']}, "
                f"machine {res['machine_busy_s']}")
        for r in range(0 if "local" in o.skip else o.repeats):
            res = cluster.measure(o.burst, lambda: cluster.local(o.burst, 0, o.size))
            out["local"].append(res)
            log(f"  local burst {r + 1}: {res['rate']:,.0f} deliveries/s (no Redis); "
                f"{res['span_s']:.2f}s, CPU s: load {res['cpu_load_s']}, "
                f"servers {res['cpu_servers_s']}")
        msgs_rate = o.pace / cluster.clients
        n = int(msgs_rate * o.pace_seconds)
        for r in range(0 if "paced" in o.skip else o.paced_repeats):
            res = cluster.measure(n, emit(n, msgs_rate), idle=3.0,
                                  timeout=o.pace_seconds * 10 + 60)
            out["paced"].append(res)
            log(f"  paced {r + 1} ({o.pace:,}/s for {o.pace_seconds}s): p50 {res['p50_ms']:.1f} "
                f"ms, p99 {res['p99_ms']:.1f} ms, max {res['max_ms']:.0f} ms, "
                f"dropped {res['dropped']}")
        if system == OURS and o.profile:
            out["profile"] = profile_server(procs, cluster, spec, redis_url, o)
    finally:
        cluster.stop()
    if "memory" not in o.skip:
        out["memory"] = memory(procs, system, redis_url, o)
    return out


def profile_server(procs: Procs, cluster: Cluster, spec: dict, redis_url: str,
                   o: argparse.Namespace) -> dict:
    pyspy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not os.path.exists(pyspy):
        log("  (py-spy not found: no profile)")
        return {}
    raw = Path(procs.log_dir) / "profile-raw.txt"
    pid = cluster.servers[0].pid
    spy = subprocess.Popen([pyspy, "record", "-p", str(pid), "-r", "200", "--format", "raw",
                            "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        time.sleep(1.0)
        for _ in range(3):
            cluster.measure(o.burst, lambda: {"emitter": run_emitter(
                procs, emit_argv(spec["emitter"], redis_url, o.burst, 0, o.size))})
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
    if not raw.exists():
        log("  (py-spy wrote nothing: needs ptrace permission)")
        return {}
    keep = BENCH / "results" / "profile-sio-redis-uvicorn.txt"
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(raw, keep)
    summary = profiling.summarise(raw.read_text())
    log(f"  profile: {summary['samples']} samples; top self: "
        + ", ".join(f"{f['frame']} {f['pct']:.0f}%" for f in summary["self"][:4]))
    return summary


def memory(procs: Procs, system: str, redis_url: str, o: argparse.Namespace) -> dict:
    spec = SYSTEMS[system]
    port = free_port()
    server = procs.start("mem-server", server_argv(spec["server"], port, redis_url, "bench", False))
    try:
        server.read(60)
        time.sleep(1.0)
        before = rss_kb(server.pid)
        load = procs.start("mem-load", ["node", str(BENCH / "node" / "load.js"), json.dumps(
            {"urls": [f"http://127.0.0.1:{port}"], "clients": o.mem_clients})])
        try:
            load.read(180)
            time.sleep(3.0)
            after = rss_kb(server.pid)
        finally:
            procs.stop(load)
    finally:
        procs.stop(server)
    per = (after - before) * 1024 / o.mem_clients
    log(f"  memory: {before / 1024:.1f} MB idle, {after / 1024:.1f} MB with {o.mem_clients} "
        f"sockets: {per / 1024:.1f} KB per socket")
    return {"rss_before_kb": before, "rss_after_kb": after, "sockets": o.mem_clients,
            "bytes_per_socket": per}


EMITTERS = [
    ("node", "Node @socket.io/redis-emitter (emit() is fire-and-forget; node-redis pipelines)"),
    ("socketio", "python-socketio AsyncRedisManager(write_only=True), await each emit"),
    ("sioredis", "sio_emitter.Emitter, one blocking emit at a time"),
    ("sioredis-async", "sio_emitter AsyncEmitter, await each emit"),
    ("sioredis-async-gather", "sio_emitter AsyncEmitter, all emits issued, then awaited (gather)"),
    ("sioredis-pipeline", "sio_emitter Emitter.pipeline(), 1,000 emits per round trip"),
]


def emitters(procs: Procs, redis_url: str, o: argparse.Namespace) -> dict:
    out: dict[str, Any] = {}
    for kind, _label in EMITTERS:
        runs = []
        n = o.emit_n * (5 if kind == "sioredis-pipeline" else 1)
        for _ in range(o.repeats):
            if kind == "node":
                argv = emit_argv("node", redis_url, n, 0, o.size)
            else:
                argv = [PY, "-m", "bench.emit", "--kind", kind, "--redis-url", redis_url,
                        "--n", str(n), "--size", str(o.size), "--batch", "1000"]
            runs.append(run_emitter(procs, argv))
        out[kind] = runs
        log(f"  emitter {kind}: median {statistics.median(r['rate'] for r in runs):,.0f} msg/s")
    return out


MANY = [
    ("sio-redis classic", ("sioredis", "uvicorn"), "sioredis", False),
    ("sio-redis sharded", ("sioredis", "uvicorn"), "sioredis", True),
    ("python-socketio", ("socketio", "uvicorn"), "socketio", False),
]


def many(procs: Procs, redis_url: str, o: argparse.Namespace) -> dict:
    out: dict[str, Any] = {}
    rooms = ["bench"] + ["other"] * (o.many - 1)
    clients = [o.clients] + [5] * (o.many - 1)
    for name, server, emitter, sharded in MANY:
        SYSTEMS[f"many:{name}"] = {"server": server}
        cluster = Cluster(procs, f"many:{name}", redis_url, clients, rooms, sharded)
        try:
            def trigger(n: int, emitter: str = emitter, sharded: bool = sharded) -> Any:
                return lambda: {"emitter": run_emitter(procs, emit_argv(
                    emitter, redis_url, n, 0, o.size, sharded=sharded))}

            cluster.measure(100, trigger(100))
            time.sleep(1.0)
            pids = [p.pid for p in cluster.servers]
            before = [cpu_seconds(p) for p in pids]
            res = cluster.measure(o.burst, trigger(o.burst))
            time.sleep(1.0)
            spent = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=False)]
        finally:
            cluster.stop()
        idle = spent[1:]
        per_k = statistics.mean(idle) / o.burst * 1000 * 1000  # ms per 1000 broadcasts
        out[name] = {"servers": o.many, "broadcasts": o.burst, "holder_cpu_s": spent[0],
                     "others_cpu_s": idle, "others_ms_per_1000": per_k,
                     "holder_ms_per_1000": spent[0] / o.burst * 1e6,
                     "delivered": res["count"], "expected": res["expected"]}
        log(f"  {o.many} servers, {name}: a server without the room spends {per_k:.1f} ms CPU "
            f"per 1,000 broadcasts (the holder {spent[0] / o.burst * 1e6:.0f} ms)")
    return out


def soak(procs: Procs, redis_url: str, o: argparse.Namespace) -> dict:
    spec = SYSTEMS[OURS]
    cluster = Cluster(procs, OURS, redis_url, [o.clients, o.clients], ["bench", "bench"])
    samples: list[tuple[float, list[int]]] = []
    try:
        msgs_rate = o.soak_rate / cluster.clients
        n = int(msgs_rate * o.soak)
        stop = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.wait(10.0):
                samples.append((time.monotonic() - t0, [rss_kb(p.pid) for p in cluster.servers]))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        res = cluster.measure(n, lambda: {"emitter": run_emitter(
            procs, emit_argv(spec["emitter"], redis_url, n, msgs_rate, o.size),
            timeout=o.soak * 3 + 60)}, timeout=o.soak * 3 + 60)
        stop.set()
        sampler.join()
    finally:
        cluster.stop()
    warm = [s for s in samples if s[0] >= 60] or samples
    first, last = warm[0], warm[-1]
    growth = [(b - a) / 1024 for a, b in zip(first[1], last[1], strict=False)]
    log(f"  soak {o.soak}s at {o.soak_rate:,}/s: RSS {first[1]} -> {last[1]} KB "
        f"(growth {growth} MB), p99 {res['p99_ms']:.0f} ms, dropped {res['dropped']}")
    return {"seconds": o.soak, "rate": o.soak_rate, "samples": samples,
            "growth_mb": growth, "result": res}


# --- machine, results ---


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        mem = int(fh.readline().split()[1]) // 1024

    def pkg(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    def node_pkg(name: str) -> str:
        from bench.procs import node_path

        try:
            return json.loads((Path(node_path()) / name / "package.json").read_text())["version"]
        except OSError:
            return "-"

    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "-"

    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "os": platform.platform(),
        "python": platform.python_version(), "node": version(["node", "--version"]),
        "redis": version(["redis-server", "--version"]).split(" v=")[-1].split()[0],
        "python_packages": {n: pkg(n) for n in ["python-socketio", "python-engineio", "redis",
                                                "hiredis", "msgpack", "uvicorn", "websockets",
                                                "aiohttp", "sio-redis"]},
        "node_packages": {n: node_pkg(n) for n in ["socket.io", "@socket.io/redis-adapter",
                                                   "@socket.io/redis-emitter", "socket.io-client",
                                                   "redis"]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, shorter paced run")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    ap.add_argument("--repeats", type=int, default=4, help="bursts (and local bursts) per system")
    ap.add_argument("--paced-repeats", type=int, default=2)
    ap.add_argument("--clients", type=int, default=50, help="clients per server")
    ap.add_argument("--burst", type=int, default=2000, help="messages per burst")
    ap.add_argument("--size", type=int, default=64, help="payload bytes")
    ap.add_argument("--pace", type=int, default=50_000, help="paced deliveries/s")
    ap.add_argument("--pace-seconds", type=float, default=10.0)
    ap.add_argument("--mem-clients", type=int, default=1000)
    ap.add_argument("--emit-n", type=int, default=20_000, help="messages per emitter run")
    ap.add_argument("--many", type=int, default=16, help="servers in the many-servers run; 0: none")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--skip", default="", help="comma-separated: local,paced,memory,emitters")
    ap.add_argument("--soak", type=float, nargs="?", const=600.0, default=0.0,
                    help="also soak our server this many seconds (default 600)")
    ap.add_argument("--soak-rate", type=int, default=20_000, help="deliveries/s during the soak")
    ap.add_argument("--out", default=str(ROOT / "docs"), help="where results go")
    ap.add_argument("--report", metavar="JSON",
                    help="only re-render docs/benchmarks.md and the chart from a results file")
    o = ap.parse_args(argv)
    if o.report:
        from bench import report

        res = json.loads(Path(o.report).read_text())
        raw = BENCH / "results" / "profile-sio-redis-uvicorn.txt"
        prof = res["systems"].get(OURS, {})
        if prof.get("profile") and raw.exists():
            prof["profile"] = profiling.summarise(raw.read_text())
        report.write(res, Path(o.out))
        print(report.summary(res))
        return 0
    if o.quick:
        o.repeats, o.paced_repeats, o.pace_seconds, o.emit_n = 2, 1, 5.0, 10_000
    if shutil.which("node") is None:
        raise SystemExit("node is not on PATH")
    systems = [s for s in o.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            raise SystemExit(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    log_dir = Path(tempfile.mkdtemp(prefix="sio-bench-"))
    procs = Procs(log_dir)
    started = time.time()
    results: dict[str, Any] = {
        "command": "bash scripts/bench.sh "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "options": vars(o), "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "systems": {},
    }
    log(f"logs in {log_dir}")
    try:
        _redis, redis_url = procs.redis()
        for system in systems:
            log(f"{system}: 2 servers x {o.clients} clients, room 'bench'")
            results["systems"][system] = fanout(procs, system, redis_url, o)
        if "emitters" not in o.skip:
            log("emitters alone (no subscriber)")
            results["emitters"] = emitters(procs, redis_url, o)
        if o.many:
            log(f"{o.many} servers, one holding the room")
            results["many"] = many(procs, redis_url, o)
        if o.soak:
            log(f"soak: {o.soak:.0f}s")
            results["soak"] = soak(procs, redis_url, o)
    except KeyboardInterrupt:
        log("interrupted; stopping every process")
        procs.stop_all()
        return 130
    finally:
        procs.stop_all()
    results["seconds"] = time.time() - started
    from bench import report

    out = Path(o.out)
    report.write(results, out)
    log(f"wrote {out / 'benchmarks.json'}, {out / 'benchmarks.png'}, {out / 'benchmarks.md'} "
        f"in {results['seconds']:.0f}s")
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
