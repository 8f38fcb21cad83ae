"""The curation server's read path at scale: the snapshot on its own, then HTTP under load.

    .venv/bin/python bench/serve.py [--songs 100000] [--lake PATH] [--write] [--clients 50] [--seconds 20]

1. Builds a synthetic lake (bench/_synthetic_lake: tags, analysis, embeddings, genres; no audio)
   in a temporary folder, or reuses ``--lake``.
2. The snapshot, in a child process so its memory is its own: build time and peak RSS, then
   single-client p50/p95 of a SQL slice, a point lookup and a top-10 similarity. With ``--write``
   (always for a lake this script built) it commits 100 new songs and one re-analysis and times
   the incremental refresh; without it a reused lake is never written.
3. Starts ``create_app(lake, settings=..., workers=0)`` under uvicorn in a subprocess on
   127.0.0.1 and runs a bounded load: ``--clients`` concurrent clients for ``--seconds`` seconds
   spread over GET /songs?limit=50, GET /songs/{id}, POST /sql (a slice) and
   GET /songs/{id}/similar?k=10; prints per endpoint requests, p50, p95 and errors.
4. Single client over HTTP: p50/p95 of the SQL slice and the top-10 similarity; the server's peak RSS.

The load generator is one asyncio process on the same machine: on few cores it competes with
the server for CPU, so the figures are a floor, not a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import free_port, normal_client, synthetic, wait_until_up  # noqa: E402

SLICE = ("SELECT song_id, title, artist, bpm, key FROM songs "
         "WHERE primary_genre = 'rock' AND bpm BETWEEN 120 AND 130 ORDER BY bpm LIMIT 50")
SERVER = """
import sys, uvicorn
from songlake.server import ServerSettings, create_app
settings = ServerSettings(sql_timeout=5.0, sql_max_rows=10000, snapshot_interval=1.0)
uvicorn.run(create_app(sys.argv[1], settings=settings, workers=0), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""



def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "p50 -, p95 -"
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms, p95 {np.percentile(ms, 95):7.1f} ms"


def timed(function, repeat: int = 50) -> list[float]:
    function()  # warm
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        out.append(time.perf_counter() - started)
    return out


# --- 2. the snapshot in a child process ---------------------------------------------------------

def snapshot_child(root: str, write: bool) -> None:
    from datetime import datetime, timezone

    from songlake.schema import BatchWriter, Lake
    from songlake.server.snapshot import Snapshot

    lake = Lake.open(root)
    started = time.perf_counter()
    snap = Snapshot(lake)
    print(f"snapshot build          {time.perf_counter() - started:7.1f} s for lake version {snap.version}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB", flush=True)
    songs = snap.read("SELECT count(*) FROM songs").column(0)[0].as_py()
    ids = snap.read("SELECT song_id FROM songs USING SAMPLE 200 ROWS").column(0).to_pylist()
    pick = iter(ids * 1000)
    print(f"songs                   {songs:,}")
    print(f"SQL slice (user SQL)    {percentiles(timed(lambda: snap.run_user_sql(SLICE, max_rows=10_000, timeout=5)))}")
    point = "SELECT * FROM songs WHERE song_id = $1"
    print(f"point lookup            {percentiles(timed(lambda: snap.read(point, [next(pick)])))}")
    print(f"similar k=10            {percentiles(timed(lambda: snap.similar(next(pick), 10)))}")
    if not write:
        print("incremental refresh     skipped (a reused lake is written only with --write)")
        return
    bench = synthetic()
    bench.build(root, 100, seed=int(time.time()))  # 100 new songs in one commit
    writer = BatchWriter(lake)
    writer.add("analysis", {"song_id": ids[0], "analysis_version": 99, "bpm": 123.0,
                            "analyzed_at": datetime.now(timezone.utc)})
    writer.commit("analyze", "bench: one re-analysis")
    started = time.perf_counter()
    snap.refresh()
    print(f"incremental refresh     {(time.perf_counter() - started) * 1000:7.0f} ms ({snap.last_refresh_kind}, "
          f"+100 songs, 1 re-analysis), peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


# --- 3. and 4. HTTP -----------------------------------------------------------------------------


def start_server(root: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, root, str(port)])
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, 600)
    return process, base


def requests_for(ids: list[str]) -> dict:
    """Endpoint name -> a function making (method, path, json body) for one request."""
    return {
        "GET /songs?limit=50": lambda: ("GET", f"/songs?limit=50&offset={random.randrange(0, 5000)}", None),
        "GET /songs/{id}": lambda: ("GET", f"/songs/{random.choice(ids)}", None),
        "POST /sql (slice)": lambda: ("POST", "/sql", {"sql": SLICE, "format": "json"}),
        "GET /songs/{id}/similar": lambda: ("GET", f"/songs/{random.choice(ids)}/similar?k=10", None),
    }


async def load(base: str, ids: list[str], clients: int, seconds: float) -> dict[str, dict]:
    import httpx

    kinds = requests_for(ids)
    results = {name: {"latency": [], "errors": 0} for name in kinds}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(normal_client(client, kinds, results, deadline, i) for i in range(clients)))
    return results


def single_client(base: str, ids: list[str], repeat: int = 100) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        def sql():
            client.post("/sql", json={"sql": SLICE, "format": "json"}).raise_for_status()

        def similar():
            client.get(f"/songs/{random.choice(ids)}/similar", params={"k": 10}).raise_for_status()

        print(f"single client POST /sql slice      {percentiles(timed(sql, repeat))}")
        print(f"single client GET similar k=10     {percentiles(timed(similar, repeat))}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=100_000, help="songs in the synthetic lake (when not --lake)")
    parser.add_argument("--lake", help="reuse this lake instead of building one")
    parser.add_argument("--write", action="store_true", help="let the refresh benchmark commit to a reused lake")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-snapshot", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--snapshot-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snapshot_child:
        snapshot_child(args.snapshot_child[0], args.snapshot_child[1] == "write")
        return

    temporary = None
    if args.lake:
        root, write = str(Path(args.lake).resolve()), args.write
    else:
        temporary = tempfile.TemporaryDirectory(prefix="songlake-serve-bench-")
        root, write = str(Path(temporary.name) / "lake"), True
        started = time.perf_counter()
        synthetic().build(root, args.songs)
        print(f"built a {args.songs:,}-song synthetic lake in {time.perf_counter() - started:.0f} s")
    try:
        if not args.skip_snapshot:
            subprocess.run([sys.executable, __file__, "--snapshot-child", root, "write" if write else "read"],
                           check=True)
        if not args.skip_http:
            started = time.perf_counter()
            server, base = start_server(root)
            print(f"server up in {time.perf_counter() - started:.1f} s at {base}")
            try:
                import httpx

                ids = httpx.post(f"{base}/sql", json={"sql": "SELECT song_id FROM songs USING SAMPLE 1000 ROWS"},
                                 timeout=60).json()["rows"]
                ids = [row[0] for row in ids]
                results = asyncio.run(load(base, ids, args.clients, args.seconds))
                print(f"\n{args.clients} clients for {args.seconds:g} s:")
                for name, found in results.items():
                    n = len(found["latency"])
                    print(f"  {name:26s} {n:6d} requests ({n / args.seconds:6.1f}/s)  {percentiles(found['latency'])}"
                          f"  errors {found['errors']}")
                print()
                single_client(base, ids)
                print(f"server peak RSS {peak_rss_mb(server.pid):,.0f} MB")
            finally:
                server.terminate()
                server.wait(30)
    finally:
        if temporary is not None:
            temporary.cleanup()


if __name__ == "__main__":
    main()
