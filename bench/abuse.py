"""Hostile clients against a live server: does the normal traffic keep its speed?

    .venv/bin/python bench/abuse.py [--songs 2000] [--lake PATH] [--clients 20] [--hostile 6]
                                    [--seconds 30] [--think 0.05]

1. Builds a small synthetic lake (bench/_synthetic_lake) in a temporary folder, or reuses
   ``--lake`` (only an API token is added to it, for the hostile uploads).
2. Starts ``songlake serve --workers 0`` on 127.0.0.1 (a free port) with the default limits.
3. Unloaded: the normal clients alone (``--clients`` less ``--hostile``) for ``--seconds``:
   GET /songs?limit=50, GET /songs/{id}, GET /songs/{id}/similar?k=10 and POST /sql (a slice),
   each client pausing ``--think`` s between requests (people and pipelines, not a flood).
4. Loaded: the same normal clients plus ``--hostile`` clients sending, back to back, the requests
   of issue 13: a 500 MB SQL answer, a query that runs to the time limit, rows streamed past it,
   SQL reading files and settings, bad versions and offsets, a 206 kB FLAC of 20 minutes of
   silence, 101-file uploads, a 600-byte file name, an upload cut mid-body.
5. Prints, per normal endpoint, requests and p50/p95 unloaded and loaded with the ratio of the
   p95s (goal: at most 2), and errors: for normal requests anything but a 2xx or a failed
   connection, for hostile ones a 5xx other than 503 (busy, which is how the server sheds
   them). Then the hostile answers by status, the server's RSS at idle and at its peak, and
   what is left in LAKE/uploads.

Traffic goes to 127.0.0.1 only; each phase is bounded by ``--seconds``. The load generator runs
on the same machine: on few cores it competes with the server for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import free_port, normal_client, synthetic, wait_until_up  # noqa: E402

SLICE = ("SELECT song_id, title, artist, bpm, key FROM songs "
         "WHERE primary_genre = 'rock' AND bpm BETWEEN 120 AND 130 ORDER BY bpm LIMIT 50")




def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(root: str, cwd: str) -> tuple[subprocess.Popen, str, int]:
    port = free_port()
    songlake = str(Path(sys.executable).with_name("songlake"))
    process = subprocess.Popen([songlake, "serve", "--lake", root, "--port", str(port), "--workers", "0"], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, 300)
    return process, base, port


# --- the traffic -------------------------------------------------------------------------------

def normal_requests(ids: list[str]) -> dict:
    """Endpoint name -> a function making (method, path, json body) for one normal request."""
    return {
        "GET /songs?limit=50": lambda: ("GET", f"/songs?limit=50&offset={random.randrange(0, 1000)}", None),
        "GET /songs/{id}": lambda: ("GET", f"/songs/{random.choice(ids)}", None),
        "GET /songs/{id}/similar": lambda: ("GET", f"/songs/{random.choice(ids)}/similar?k=10", None),
        "POST /sql (slice)": lambda: ("POST", "/sql", {"sql": SLICE, "format": "json"}),
    }


def silence_flac() -> bytes:
    import soundfile as sf

    out = io.BytesIO()
    sf.write(out, np.zeros((44100 * 1200, 2), np.int16), 44100, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def hostile_requests(token: str) -> dict:
    """Name -> a function making the keyword arguments of one hostile httpx request."""
    flac = silence_flac()
    auth = {"Authorization": f"Bearer {token}"}
    many = [("files", (f"s{i}.mp3", b"x" * 1000, "audio/mpeg")) for i in range(101)]
    return {
        "SQL 500 MB answer": lambda: dict(method="POST", url="/sql",
                                          json={"sql": "select repeat('x', 100000000) from range(5)"}),
        "SQL to the time limit": lambda: dict(method="POST", url="/sql", json={
            "sql": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"}),
        "SQL streaming past the limit": lambda: dict(method="POST", url="/sql", json={
            "sql": "SELECT i FROM range(100000000000) t(i) WHERE i % 1000000007 = 0"}),
        "SQL reads a file": lambda: dict(method="POST", url="/sql", json={"sql": "SELECT * FROM read_text('.tmp/x')"}),
        "SQL settings": lambda: dict(method="POST", url="/sql", json={"sql": "SELECT * FROM duckdb_settings()"}),
        "SQL version as a list": lambda: dict(method="POST", url="/sql", json={"sql": "SELECT 1", "version": [1]}),
        "offset 2^63": lambda: dict(method="GET", url="/songs?offset=9223372036854775808"),
        "20 min of silence": lambda: dict(method="POST", url="/search/similar",
                                          files={"files": ("silence.flac", flac, "audio/flac")}),
        "101 files": lambda: dict(method="POST", url="/songs", files=many, headers=auth),
        "600-byte name": lambda: dict(method="POST", url="/songs", headers=auth,
                                      files={"files": ("歌" * 200 + ".mp3", b"\xff\xfb" * 500, "audio/mpeg")}),
        "upload cut mid-body": None,  # a raw socket, below
    }


async def cut_upload(port: int, token: str) -> int:
    """An upload whose connection closes half way through its one file; 0 (no answer comes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'--XX\r\nContent-Disposition: form-data; name="files"; filename="cut.mp3"\r\n\r\n' + b"\xff\xfb" * 20_000
    writer.write(b"POST /songs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token.encode()
                 + b"\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: %d\r\n\r\n"
                 % (len(body) * 2) + body)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    return 0


async def run(base: str, port: int, ids: list[str], token: str, normal: int, hostile: int, seconds: float,
              think: float) -> tuple[dict, Counter, int]:
    import httpx

    kinds = normal_requests(ids)
    bad = hostile_requests(token) if hostile else {}
    results = {name: {"latency": [], "errors": 0} for name in kinds}
    hostile_answers: Counter = Counter()
    hostile_errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=normal + hostile, max_keepalive_connections=normal + hostile)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def hostile_client(number: int) -> None:
            nonlocal hostile_errors
            names = list(bad)
            turn = number
            while time.perf_counter() < deadline:
                name = names[turn % len(names)]
                turn += 1
                try:
                    if bad[name] is None:
                        status = await cut_upload(port, token)
                    else:
                        status = (await client.request(**bad[name]())).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                hostile_answers[(name, status)] += 1
                if isinstance(status, str) or (status >= 500 and status != 503):
                    hostile_errors += 1

        await asyncio.gather(*(normal_client(client, kinds, results, deadline, i, think) for i in range(normal)),
                             *(hostile_client(i) for i in range(hostile)))
    return results, hostile_answers, hostile_errors


def percentile(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.array(seconds) * 1000, q)) if seconds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=2000, help="songs in the synthetic lake (when not --lake)")
    parser.add_argument("--lake", help="reuse this lake instead of building one")
    parser.add_argument("--clients", type=int, default=20, help="clients in the loaded phase, hostile ones included")
    parser.add_argument("--hostile", type=int, default=6, help="of the clients, how many are hostile")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--think", type=float, default=0.05, help="a normal client's pause between requests (s)")
    args = parser.parse_args()
    if not 0 < args.hostile < args.clients:
        raise SystemExit("--hostile must be between 1 and --clients - 1")
    args.seconds = min(args.seconds, 120.0)  # bounded, whatever was asked

    from songlake.server.auth import TokenStore

    with tempfile.TemporaryDirectory(prefix="songlake-abuse-bench-") as scratch:
        if args.lake:
            root = str(Path(args.lake).resolve())
        else:
            root = str(Path(scratch) / "lake")
            started = time.perf_counter()
            synthetic().build(root, args.songs)
            print(f"built a {args.songs:,}-song synthetic lake in {time.perf_counter() - started:.0f} s")
        token = TokenStore(root).create(f"abuse-bench-{int(time.time())}")
        server, base, port = start_server(root, scratch)
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                try:
                    peak[0] = max(peak[0], rss_mb(server.pid))
                except OSError:
                    return

        try:
            import httpx

            ids = [row[0] for row in httpx.post(f"{base}/sql", timeout=60, json={
                "sql": "SELECT song_id FROM songs USING SAMPLE 500 ROWS"}).json()["rows"]]
            normal = args.clients - args.hostile
            asyncio.run(run(base, port, ids, token, normal, 0, 3, args.think))  # warm
            idle = rss_mb(server.pid)
            threading.Thread(target=sample, daemon=True).start()
            print(f"server up at {base}, RSS at idle {idle:,.0f} MB; each phase {args.seconds:g} s, "
                  f"normal clients pause {args.think * 1000:g} ms between requests\n")
            unloaded, _, _ = asyncio.run(run(base, port, ids, token, normal, 0, args.seconds, args.think))
            loaded, answers, hostile_errors = asyncio.run(
                run(base, port, ids, token, normal, args.hostile, args.seconds, args.think))
            stop.set()
            print(f"normal requests: {normal} clients alone (unloaded), then with {args.hostile} hostile ones (loaded)")
            print(f"  {'endpoint':26s} {'n unl.':>7s} {'n load.':>7s}  {'p50 unl.':>9s} {'p50 load.':>9s}  "
                  f"{'p95 unl.':>9s} {'p95 load.':>9s}  {'p95 x':>5s}  errors")
            all_unloaded, all_loaded, errors = [], [], 0
            for name in unloaded:
                a, b = unloaded[name]["latency"], loaded[name]["latency"]
                all_unloaded += a
                all_loaded += b
                errors += unloaded[name]["errors"] + loaded[name]["errors"]
                print(f"  {name:26s} {len(a):7d} {len(b):7d}  {percentile(a, 50):7.1f}ms {percentile(b, 50):7.1f}ms  "
                      f"{percentile(a, 95):7.1f}ms {percentile(b, 95):7.1f}ms  "
                      f"{percentile(b, 95) / percentile(a, 95):5.2f}  {unloaded[name]['errors'] + loaded[name]['errors']}")
            print(f"  {'all normal requests':26s} {len(all_unloaded):7d} {len(all_loaded):7d}  "
                  f"{percentile(all_unloaded, 50):7.1f}ms {percentile(all_loaded, 50):7.1f}ms  "
                  f"{percentile(all_unloaded, 95):7.1f}ms {percentile(all_loaded, 95):7.1f}ms  "
                  f"{percentile(all_loaded, 95) / percentile(all_unloaded, 95):5.2f}  {errors}")
            print(f"\nhostile requests: {sum(answers.values())}, errors (5xx but 503, failed connections) "
                  f"{hostile_errors}")
            for (name, status), n in sorted(answers.items(), key=lambda item: (item[0][0], str(item[0][1]))):
                print(f"  {name:30s} {str(status) if status else '(cut)':>6s}  x{n}")
            uploads = Path(root, "uploads")
            left = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
            print(f"\nserver RSS: idle {idle:,.0f} MB, peak under load {peak[0]:,.0f} MB "
                  f"(+{peak[0] - idle:,.0f} MB); files left in uploads/: {len(left)}")
        finally:
            stop.set()
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
