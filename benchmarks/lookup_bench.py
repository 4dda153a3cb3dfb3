"""楼宇身份证 lookup latency: ``GET /v1/buildings/{id}`` on loopback, goal p99 <= 5 ms.

    python -m benchmarks.lookup_bench                  # 5,000 lookups, on the local stack
    python -m benchmarks.lookup_bench --requests 20000 --json lookup.json

Needs `hub stack up` (the route reads the real Redis and queues each lookup event on the real
hub.src.building_lookup, site ``BENCH-LOOKUP``; the bench's card is deleted from Redis at the
end). The route (hub/edge/lookup.py, mounted with ``setup``) runs in a server process of its
own; this process is the client: one keep-alive HTTP connection, requests one after the other,
after a warm-up (figures: BENCHMARKS.md §8). Baselines measured in the same run, interleaved
in rounds with the lookups so a burst of load on this shared machine hits all alike:

- **constant** — a handler on the same server returning the same card bytes from memory: the
  floor of aiohttp + HTTP + this client; ``lookup / constant`` is what the route itself adds.
- **redis GET** — a bare GET of the card with redis-py from this process: the Redis round trip
  the route pays once per lookup.

Prints p50/p95/p99/max per series (ms) and the ratios, then what the server counted (lookups
found, lookup events delivered / failed). A benchmark, not a test: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.common import machine_note
from hub.settings import Settings

BUILDING = "BENCH-LOOKUP-BLDG"
SITE = "BENCH-LOOKUP"
CARD = {"building_id": BUILDING, "name": "基准楼 benchmark building",
        "address": "杭州市西湖区 基准路 1号", "site_id": SITE, "grid_id": "GRID-BENCH",
        "township_code": "330106001", "district_code": "330106", "city_code": "3301",
        "police_station_id": "PS-BENCH", "grid_worker_id": "GW-BENCH", "households": 48,
        "rental_units": 6, "risk_tags": ["group_rental", "elderly_alone"],
        "updated_time": 1_746_057_600_000}


@dataclass(frozen=True)
class BenchCaller:
    name: str
    role: str


def serve(settings: Settings, ready: Any, stop: Any) -> None:
    """The server process: the lookup route, a constant handler, and the sink's counts."""
    import asyncio

    from aiohttp import web

    from hub.buildings.mirror import card_json
    from hub.edge import lookup
    from hub.edge.sink import EdgeSink

    constant = card_json(CARD).encode()
    sink = EdgeSink(settings)

    @web.middleware
    async def caller(request: web.Request, handler: Any) -> web.StreamResponse:
        request["caller"] = BenchCaller("bench-client", "SYSTEM")
        return await handler(request)

    async def const(_: web.Request) -> web.Response:
        return web.Response(body=constant, content_type="application/json", charset="utf-8")

    async def counts(_: web.Request) -> web.Response:
        m = sink.metrics
        return web.json_response({
            "found": m.lookups.labels("found")._value.get(),
            "produced": m.events.labels("http", "hub-gateway", "produced")._value.get(),
            "failed": m.events.labels("http", "hub-gateway", "failed")._value.get(),
        })

    async def main() -> None:
        app = web.Application(middlewares=[caller])
        lookup.setup(app, settings, sink)
        app.router.add_get("/const", const)
        app.router.add_get("/counts", counts)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ready.put(port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(main())
    sink.close(timeout=15)


def percentiles(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {"n": len(s), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": s[-1],
            "mean": statistics.fmean(s)}


def timed_gets(conn: http.client.HTTPConnection, path: str, n: int, expect: int = 200
               ) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - t0) * 1000)
        if resp.status != expect:
            raise SystemExit(f"GET {path}: {resp.status}, expected {expect}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000, help="lookups (and as many of each "
                    "baseline), default %(default)s")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=10, help="interleaving rounds")
    ap.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = ap.parse_args(argv)

    import redis

    from hub.buildings.mirror import card_json, card_key

    settings = Settings.from_env()
    print(machine_note())
    client = redis.Redis.from_url(settings.redis_url)
    client.set(card_key(BUILDING), card_json(CARD))
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(settings, ready, stop), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        path = f"/v1/buildings/{BUILDING}?channel=API"
        timed_gets(conn, path, args.warmup)
        timed_gets(conn, "/const", args.warmup)
        series: dict[str, list[float]] = {"lookup": [], "constant": [], "redis GET": []}
        per = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            series["lookup"] += timed_gets(conn, path, per)
            series["constant"] += timed_gets(conn, "/const", per)
            for _ in range(per):
                t0 = time.perf_counter()
                client.get(card_key(BUILDING))
                series["redis GET"].append((time.perf_counter() - t0) * 1000)
        unknown = percentiles(timed_gets(conn, "/v1/buildings/BENCH-NO-SUCH", per, expect=404))
        time.sleep(1.0)  # the last lookup events' acknowledgements
        conn.request("GET", "/counts")
        counts = json.loads(conn.getresponse().read())
        conn.close()
    finally:
        stop.set()
        server.join(timeout=30)
        client.delete(card_key(BUILDING))
        client.close()

    figures = {name: percentiles(ms) for name, ms in series.items()}
    figures["unknown (404)"] = unknown
    print(f"\n{'series':<14}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, f in figures.items():
        print(f"{name:<14}{f['n']:>7}{f['p50']:>9.3f}{f['p95']:>9.3f}{f['p99']:>9.3f}"
              f"{f['max']:>9.3f}")
    look, const = figures["lookup"], figures["constant"]
    ratios = {q: look[q] / const[q] for q in ("p50", "p99")}
    print(f"\nlookup / constant: p50 x{ratios['p50']:.2f}, p99 x{ratios['p99']:.2f}; "
          f"added by the route at p50: {look['p50'] - const['p50']:.3f} ms")
    goal = look["p99"] <= 5.0
    print(f"goal p99 <= 5 ms: {'PASS' if goal else 'FAIL'} ({look['p99']:.3f} ms)")
    print(f"server counted: {counts['found']:.0f} found lookups, {counts['produced']:.0f} lookup "
          f"events delivered, {counts['failed']:.0f} failed (warm-up included)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"figures": figures, "ratios": ratios, "counts": counts}, fh, indent=1)
    return 0 if goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
