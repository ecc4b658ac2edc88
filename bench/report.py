"""Results of a bench run: docs/benchmarks.json, docs/benchmarks.png, docs/benchmarks.md."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.procs import BENCH

OURS = "sio-redis/uvicorn"
PYSIO = "python-socketio"
NODE = "node"


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _stat(runs: list[dict], key: str) -> tuple[float, float, float]:
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return min(vals), statistics.median(vals), max(vals)


def goals(res: dict) -> list[dict[str, Any]]:
    sysres = res["systems"]
    out: list[dict[str, Any]] = []

    def add(goal: str, target: str, measured: str, met: bool | None, gap: str = "") -> None:
        out.append({"goal": goal, "target": target, "measured": measured, "met": met,
                    "gap": gap})

    ours_hosts = [s for s in sysres if s.startswith("sio-redis/")]
    if PYSIO in sysres:
        base = _stat(sysres[PYSIO]["burst"], "rate")[1]
        for s in ours_hosts:
            r = _stat(sysres[s]["burst"], "rate")[1] / base
            add(f"fan-out ({s})", ">= 1.8x python-socketio (burst, median)", f"{r:.2f}x",
                r >= 1.8, "" if r >= 1.8 else f"{1.8 / r:.2f}x short")
    for s in ours_hosts:
        paced = sysres[s]["paced"]
        if not paced:
            continue
        p99 = max(p["p99_ms"] for p in paced)
        dropped = sum(p["dropped"] for p in paced)
        ok = p99 < 100 and dropped == 0
        add(f"paced {res['options']['pace']:,}/s ({s})", "p99 < 100 ms, nothing dropped",
            f"p99 {p99:.1f} ms (worst run), dropped {dropped}", ok,
            "" if ok else f"p99 {p99 - 100:+.0f} ms over, {dropped} dropped")
    for s in ours_hosts:
        redis_rate = _stat(sysres[s]["burst"], "rate")[1]
        local_rate = _stat(sysres[s]["local"], "rate")[1]
        cost = 1 - redis_rate / local_rate
        add(f"Redis hop ({s})", "<= 10% below the same server broadcasting locally",
            f"{100 * cost:+.1f}% ({redis_rate:,.0f} vs {local_rate:,.0f}/s local)", cost <= 0.10,
            "" if cost <= 0.10 else f"{100 * (cost - 0.10):.1f} points over")
    em = res.get("emitters", {})
    if "node" in em and "sioredis" in em:
        node = _med([r["rate"] for r in em["node"]])
        for kind in ("sioredis", "sioredis-async", "sioredis-async-gather"):
            if kind not in em:
                continue
            ours = _med([r["rate"] for r in em[kind]])
            r = ours / node
            add(f"emitter one at a time ({kind})", ">= 2x Node's emitter", f"{r:.2f}x "
                f"({ours:,.0f} vs {node:,.0f} msg/s)", r >= 2, "" if r >= 2 else
                f"{2 / r:.1f}x short")
    if "sioredis-pipeline" in em:
        pipe = _med([r["rate"] for r in em["sioredis-pipeline"]])
        add("emitter pipeline", ">= 100,000 msg/s", f"{pipe:,.0f} msg/s", pipe >= 100_000,
            "" if pipe >= 100_000 else f"{100_000 - pipe:,.0f} msg/s short")
    if PYSIO in sysres and all("memory" in r for r in sysres.values()):
        base = sysres[PYSIO]["memory"]["bytes_per_socket"]
        for s in ours_hosts:
            per = sysres[s]["memory"]["bytes_per_socket"]
            add(f"RSS per idle socket ({s})", "<= python-socketio's manager",
                f"{per / 1024:.1f} KB vs {base / 1024:.1f} KB", per <= base,
                "" if per <= base else f"{(per - base) / 1024:.1f} KB more")
    if "soak" in res:
        g = max(res["soak"]["growth_mb"])
        add(f"soak {res['soak']['seconds'] / 60:.0f} min ({OURS})", "no RSS growth",
            f"{g:+.1f} MB (largest server, after the first minute)", g < 5.0,
            "" if g < 5.0 else f"{g:.1f} MB growth")
    else:
        add("soak 10 min", "no RSS growth", "not run (python -m bench --soak)", None)
    many = res.get("many", {})
    if "sio-redis classic" in many:
        m = many
        add(f"{m['sio-redis classic']['servers']} servers: broadcasts for rooms not held",
            "near zero", ", ".join(f"{k}: {v['others_ms_per_1000']:.1f} ms CPU/1,000"
                                   for k, v in m.items()),
            m["sio-redis classic"]["others_ms_per_1000"] < 100, "")
    return out


def chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sysres = res["systems"]
    names = list(sysres)
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    colors = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2"]

    ax = axes[0][0]
    x = range(len(names))
    for off, kind, label in ((-0.2, "burst", "via Redis"), (0.2, "local", "local, no Redis")):
        if not names or not all(sysres[n][kind] for n in names):
            continue
        lo, med, hi = zip(*[_stat(sysres[n][kind], "rate") for n in names], strict=False)
        ax.bar([i + off for i in x], [m / 1000 for m in med], 0.4, label=label,
               yerr=[[(m - a) / 1000 for m, a in zip(med, lo, strict=False)],
                     [(b - m) / 1000 for m, b in zip(med, hi, strict=False)]], capsize=3)
    ax.set_xticks(list(x), names, rotation=15)
    ax.set_ylabel("thousand deliveries/s")
    ax.set_title(f"Burst fan-out ({res['options']['burst']:,} msgs x "
                 f"{2 * res['options']['clients']} clients; median, min-max)")
    ax.legend()

    ax = axes[0][1]
    for j, key in enumerate(("p50_ms", "p99_ms", "max_ms")):
        if not names:
            break
        vals = [_stat(sysres[n]["paced"], key)[1] for n in names]
        ax.bar([i + (j - 1) * 0.27 for i in x], vals, 0.27, label=key[:-3])
    ax.axhline(100, color="red", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(list(x), names, rotation=15)
    ax.set_ylabel("latency, ms (log)")
    ax.set_title(f"Paced {res['options']['pace']:,} deliveries/s for "
                 f"{res['options']['pace_seconds']:.0f} s (median run)")
    ax.legend()

    ax = axes[0][2]
    vals = [sysres[n].get("memory", {}).get("bytes_per_socket", 0) / 1024 for n in names]
    ax.bar(list(x), vals, color=colors[: len(names)])
    ax.set_xticks(list(x), names, rotation=15)
    ax.set_ylabel("KB RSS per socket")
    ax.set_title(f"Memory: RSS per idle socket ({res['options']['mem_clients']:,} sockets)")

    ax = axes[1][0]
    em = res.get("emitters", {})
    kinds = list(em)
    vals = [_med([r["rate"] for r in em[k]]) / 1000 for k in kinds]
    ax.barh(kinds, vals, color=colors[: len(kinds)])
    ax.set_xscale("log")
    ax.set_xlabel("thousand messages/s (log)")
    ax.set_title("Emitters alone (median)")

    ax = axes[1][1]
    many = res.get("many", {})
    if many:
        ks = list(many)
        ax.bar(ks, [many[k]["others_ms_per_1000"] for k in ks], label="server without the room")
        ax.bar(ks, [many[k]["holder_ms_per_1000"] for k in ks], alpha=0.35,
               label="server holding the room")
        ax.set_ylabel("ms CPU per 1,000 broadcasts")
        ax.set_title(f"{next(iter(many.values()))['servers']} servers, one holds the room")
        ax.legend()
    else:
        ax.set_axis_off()

    ax = axes[1][2]
    soak = res.get("soak")
    if soak and soak["samples"]:
        t = [s[0] / 60 for s in soak["samples"]]
        for k in range(len(soak["samples"][0][1])):
            ax.plot(t, [s[1][k] / 1024 for s in soak["samples"]], label=f"server {k}")
        ax.set_xlabel("minutes")
        ax.set_ylabel("RSS MB")
        ax.set_title(f"Soak {OURS}, {soak['rate']:,} deliveries/s")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "soak not run\n(python -m bench --soak)", ha="center", va="center")
        ax.set_axis_off()
    fig.suptitle(f"sio-redis benchmark, {res['machine']['cores']} cores, {res['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _mem(r: dict) -> str:
    return f"{r['memory']['bytes_per_socket'] / 1024:.1f} KB" if "memory" in r else "-"


def _fmt(v: float, unit: str = "") -> str:
    return "-" if v != v else f"{v:,.0f}{unit}"


def markdown(res: dict) -> str:
    o = res["options"]
    m = res["machine"]
    sysres = res["systems"]
    L: list[str] = []
    L += ["# Benchmarks", "",
          "Generated by `bench/` (`bash scripts/bench.sh`); every number below comes from the one "
          f"run of {res['date']} ({res['seconds'] / 60:.1f} min), systems run one after another "
          "on the same machine. Re-run it with the command below; bench/README.md explains the "
          "method.", "",
          "```", res["command"], "```", "",
          "![benchmarks](benchmarks.png)", "", "## Goals (issue #8)", "",
          "| goal | target | measured | |", "| --- | --- | --- | --- |"]
    for g in goals(res):
        mark = {True: "met", False: f"**missed** ({g['gap']})", None: "not measured"}[g["met"]]
        L.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {mark} |")
    L += ["", "## Fan-out: 2 servers, "
          f"{o['clients']} websocket clients each in one room, {o['size']}-byte payload", "",
          f"Burst: {o['burst']:,} messages from the system's emitter, deliveries/s from the first "
          "emit to the last delivery (min / median / max of "
          f"{o['repeats']}). Local: the same servers broadcast the same burst themselves, through "
          "the code a broadcast from Redis runs, without Redis. Paced: "
          f"{o['pace']:,} deliveries/s for {o['pace_seconds']:.0f} s "
          f"({o['paced_repeats']} runs; latency = delivery time - emit time in the payload). "
          "Server CPU per delivery: CPU seconds (user + system) of both servers during a burst "
          "over the deliveries (median): unlike deliveries/s it does not depend on how the two "
          "cores are shared with the load process, so it is the steadier measure of cost.", "",
          "| system | burst via Redis, deliveries/s | local, no Redis | Redis hop | server CPU "
          "per delivery (Redis / local) | paced p50 | paced p99 | paced max | dropped | "
          "RSS/idle socket |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in sysres.items():
        b = _stat(r["burst"], "rate")
        lo = _stat(r["local"], "rate")
        hop = 1 - b[1] / lo[1] if lo[1] == lo[1] and lo[1] else float("nan")
        p50 = _stat(r["paced"], "p50_ms") if r["paced"] else (0.0,) * 3
        p99 = _stat(r["paced"], "p99_ms")
        mx = _stat(r["paced"], "max_ms")
        dropped = sum(p["dropped"] for p in r["paced"])
        L.append(
            f"| {name} | {_fmt(b[0])} / **{_fmt(b[1])}** / {_fmt(b[2])} | "
            f"{_fmt(lo[0])} / **{_fmt(lo[1])}** / {_fmt(lo[2])} | {100 * hop:+.0f}% | "
            f"{_stat(r['burst'], 'server_cpu_us_per_delivery')[1]:.2f} / "
            f"{_stat(r['local'], 'server_cpu_us_per_delivery')[1]:.2f} µs | "
            f"{p50[1]:.1f} ms | {p99[0]:.0f} / **{p99[1]:.0f}** / {p99[2]:.0f} ms | "
            f"{mx[2]:,.0f} ms | {dropped} | {_mem(r)} |")
    em = res.get("emitters", {})
    if em:
        from bench.run import EMITTERS

        labels = dict(EMITTERS)
        L += ["", f"## Emitters alone ({o['emit_n']:,} messages a run, the pipeline 5x that; "
              "no subscriber)", "", "| emitter | min | median | max (messages/s) |",
              "| --- | --- | --- | --- |"]
        for kind, runs in em.items():
            lo, med, hi = _stat(runs, "rate")
            L.append(f"| {labels.get(kind, kind)} | {_fmt(lo)} | **{_fmt(med)}** | {_fmt(hi)} |")
    many = res.get("many", {})
    if many:
        n = next(iter(many.values()))["servers"]
        L += ["", f"## Many servers: {n} servers, one holds the room", "",
              f"Server 0 has {o['clients']} clients in room `bench`; the {n - 1} others have 5 "
              f"clients each in room `other`. A burst of {o['burst']:,} broadcasts to `bench`: CPU "
              "time (utime + stime) each server spends on it.", "",
              "| mode | a server without the room, ms CPU per 1,000 broadcasts (mean) | "
              "the server holding it | delivered |", "| --- | --- | --- | --- |"]
        for k, v in many.items():
            L.append(f"| {k} | **{v['others_ms_per_1000']:.1f}** | {v['holder_ms_per_1000']:.0f} "
                     f"| {v['delivered']:,}/{v['expected']:,} |")
    if "soak" in res:
        s = res["soak"]
        L += ["", f"## Soak: {OURS}, {s['rate']:,} deliveries/s for {s['seconds'] / 60:.0f} min",
              "", "RSS growth after the first minute, per server: "
              + ", ".join(f"{g:+.1f} MB" for g in s["growth_mb"])
              + f"; p99 {s['result']['p99_ms']:.0f} ms, dropped {s['result']['dropped']}."
              + (f" ({s['note']})" if s.get("note") else "")]
    prof = sysres.get(OURS, {}).get("profile")
    if prof:
        L += ["", f"## Profile of our server ({OURS}, py-spy, {prof['samples']:,} samples of "
              "server 0 during 3 bursts)", "", "Self time (where the CPU is):", "",
              "| frame | % |", "| --- | --- |"]
        L += [f"| `{f['frame']}` | {f['pct']:.1f} |" for f in prof["self"][:15]]
        L += ["", "Total time (frame on the stack):", "", "| frame | % |", "| --- | --- |"]
        L += [f"| `{f['frame']}` | {f['pct']:.1f} |" for f in prof["total"][:15]]
        if prof.get("ours"):
            L += ["", "This project's frames (total time):", "", "| frame | % |", "| --- | --- |"]
            L += [f"| `{f['frame']}` | {f['pct']:.1f} |" for f in prof["ours"][:8]]
    notes = BENCH / "NOTES.md"
    if notes.exists():
        L += ["", notes.read_text().strip()]
    L += ["", "## Machine", "", f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB",
          f"- OS: {m['os']}", f"- Python {m['python']}, Node {m['node']}, Redis {m['redis']}",
          "- Python packages: " + ", ".join(f"{k} {v}" for k, v in m["python_packages"].items()),
          "- Node packages: " + ", ".join(f"{k} {v}" for k, v in m["node_packages"].items()),
          "- Raw results: [benchmarks.json](benchmarks.json)", ""]
    return "\n".join(L)


def write(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    res["goals"] = goals(res)
    (out / "benchmarks.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    chart(res, out / "benchmarks.png")
    (out / "benchmarks.md").write_text(markdown(res))


def summary(res: dict) -> str:
    lines = ["", "system                 burst/s (min/median)     local/s (median)   paced p99 "
             "(median)  RSS/socket"]
    for name, r in res["systems"].items():
        b = _stat(r["burst"], "rate")
        lo = _stat(r["local"], "rate")
        p99 = _stat(r["paced"], "p99_ms")
        lines.append(f"{name:22} {b[0]:>9,.0f} / {b[1]:>9,.0f}   {lo[1]:>12,.0f}   "
                     f"{p99[1]:>12,.1f} ms   {_mem(r):>9}")
    for k, runs in res.get("emitters", {}).items():
        lo, med, _ = _stat(runs, "rate")
        lines.append(f"emitter {k:18} {lo:>9,.0f} / {med:>9,.0f} msg/s")
    lines.append("")
    for g in res.get("goals", []):
        mark = {True: "MET", False: "MISSED", None: "n/a"}[g["met"]]
        lines.append(f"[{mark:6}] {g['goal']}: {g['measured']} (target {g['target']})")
    return "\n".join(lines)
