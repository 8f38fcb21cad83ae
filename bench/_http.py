"""What the HTTP benchmarks share: the synthetic lake module, a free loopback port, and waiting
for a started server to answer /health."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from pathlib import Path


def synthetic():
    """bench/_synthetic_lake.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_synthetic_lake", Path(__file__).with_name("_synthetic_lake.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(process: subprocess.Popen, base: str, seconds: float) -> None:
    """Return once the server at base answers /health; SystemExit if it exits or takes too long."""
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"the server did not answer /health within {seconds:.0f} s")


async def normal_client(client, kinds: dict, results: dict, deadline: float, first: int, think: float = 0.0) -> None:
    """One client of normal traffic: the kinds of request in turn (starting at `first`, so
    clients spread over them) until `deadline` (time.perf_counter); each request's latency and
    whether it failed (anything but 2xx, or no answer) go to results[name]. Between requests it
    pauses `think` s, varied by ±50 %."""
    import asyncio
    import random

    import httpx

    names = list(kinds)
    turn = first
    while time.perf_counter() < deadline:
        name = names[turn % len(names)]
        turn += 1
        method, path, body = kinds[name]()
        started = time.perf_counter()
        try:
            response = await client.request(method, path, json=body)
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        results[name]["latency"].append(time.perf_counter() - started)
        results[name]["errors"] += 0 if ok else 1
        if think:
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
