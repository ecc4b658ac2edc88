"""Summarise py-spy's raw (collapsed stack) output: top frames by self and by total time."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3", "/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3":
                path = "stdlib:" + path.split("/", 1)[-1]
            break
    return f"{m.group('fn')} ({path})"


def summarise(raw: str, top: int = 15) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "samples": c, "pct": 100.0 * c / samples if samples else 0.0}
                for f, c in counter.most_common(top)]

    # the event loop and the script's own frames are on every stack: not informative
    wrappers = Counter({f: c for f, c in total.items() if c < 0.99 * samples})
    ours = Counter({f: c for f, c in total.items()
                    if "(sio_redis/" in f or "(sio_emitter/" in f})
    return {"samples": samples, "self": rows(own), "total": rows(wrappers), "ours": rows(ours)}
