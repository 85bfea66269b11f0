"""Instructions per part of a response stream, counted by callgrind: ours vs aiobotocore vs raw.

Wall-clock and CPU-time ratios on a shared 2-core machine move with the other tenants' load;
instruction counts do not. This script counts, with ``valgrind --tool=callgrind``, the
instructions the *client process* executes per PayloadPart for the same streams as
``bench_stream.py`` (same clients, same loopback ``stream_server.py``, which runs outside
valgrind), and prints the ratios of aiobotocore and of raw aiohttp to ours.

Method: each (client, workload) runs twice in a fresh interpreter under callgrind, with the same
warm-up (2 streams: connection, imports, caches) and ``--streams`` measured streams the first time
and ``--streams + --extra`` the second; the instructions per part are the difference of the two
totals over the parts of the extra streams. Start-up, imports, the warm-up and the teardown are
the same in both runs and cancel out. ``PYTHONHASHSEED=0`` keeps the two runs' dict layouts alike.

Under valgrind the client runs ~50x slower than the server, so most reads find many HTTP chunks
already buffered: the figures describe the client's CPU work per part with the server ahead (the
same regime as a fast model on a loaded client), not its latency.

``--annotate`` also prints, for ours, the top functions by exclusive instructions of the longer
run (``callgrind_annotate``): where the per-part cost goes. Python functions appear as the
interpreter's C functions (``_PyEval_EvalFrameDefault`` is the bytecode of every Python
function); the decoder's CRC shows as ``crc32_z``.

    .venv/bin/python benchmarks/stream_callgrind.py                 # every client, both sizes
    .venv/bin/python benchmarks/stream_callgrind.py --clients ours-aiohttp --workloads 64B
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_stream
import stream_server

CLIENTS = ("ours-aiohttp", "aiobotocore", "raw-aiohttp")
WORKLOADS = {label: (parts, size) for label, parts, size in bench_stream.WORKLOADS}
RUN_TIMEOUT_S = 900.0
_TOTALS = re.compile(rb"^(?:totals|summary):\s*(\d+)", re.MULTILINE)
_FUNCTION = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$")


async def child(client: str, url: str, workload: str, streams: int) -> None:
    """Run 2 warm-up and ``streams`` measured streams of ``workload`` (under callgrind)."""
    parts, size = WORKLOADS[workload]
    if client == "ours-aiohttp":
        closer, run = bench_stream._ours(url, "aiohttp")
    elif client == "ours-httpx":
        closer, run = bench_stream._ours(url, "httpx")
    elif client == "aiobotocore":
        closer, run = await bench_stream._aiobotocore(url)
    else:
        closer, run = bench_stream._raw(url)
    name = f"bench-{parts}x{size}"
    try:
        for _ in range(2 + streams):
            _, _, got_parts, got_bytes = await asyncio.wait_for(run(name), RUN_TIMEOUT_S)
            if (got_parts, got_bytes) != (parts, parts * size):
                raise RuntimeError(f"{client}: got {got_parts} parts / {got_bytes} B")
    finally:
        await closer.aclose()


def _count(client: str, url: str, workload: str, streams: int, out: Path) -> int:
    """Total instructions of one child run under callgrind (its output file kept at ``out``)."""
    env = bench_stream._child_env()
    env["PYTHONHASHSEED"] = "0"
    valgrind = shutil.which("valgrind") or "valgrind"
    proc = subprocess.run(  # noqa: S603 - valgrind and this script, fixed arguments
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            client,
            "--url",
            url,
            "--workloads",
            workload,
            "--streams",
            str(streams),
        ],
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{client} {workload} failed:\n{proc.stderr.decode()[-3000:]}")
    match = _TOTALS.search(out.read_bytes())
    if match is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(match.group(1))


def _functions(tool: str, path: Path) -> dict[str, int]:
    """Exclusive instructions per function of one callgrind output."""
    text = subprocess.run(  # noqa: S603 - the valgrind tool, fixed arguments
        [tool, "--inclusive=no", "--threshold=100", str(path)],
        capture_output=True,
        check=False,
        text=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = _FUNCTION.match(line)
        if match is not None and "PROGRAM TOTALS" not in line:
            name = match.group(2)
            # Keep the file's last component and the function: build paths are noise.
            name = re.sub(r"^.*/", "", name.split(" [")[0])
            counts[name] = counts.get(name, 0) + int(match.group(1).replace(",", ""))
    return counts


def _annotate(short: Path, long: Path, parts: int, top: int) -> None:
    """The functions whose exclusive instructions grew most from the short to the long run."""
    tool = shutil.which("callgrind_annotate")
    if tool is None:
        print("  (callgrind_annotate not found: no breakdown)")
        return
    before = _functions(tool, short)
    after = _functions(tool, long)
    growth = sorted(((after[name] - before.get(name, 0), name) for name in after), reverse=True)
    print(f"  top {top} functions, exclusive instructions per part (long run minus short):")
    for delta, name in growth[:top]:
        print(f"    {delta / parts:8.0f}  {name[:110]}")


def parent(clients: list[str], workloads: list[str], streams: int, extra: int, top: int) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: this benchmark needs it")
    proc, url = stream_server.start(max_seconds=3600)
    per_part: dict[tuple[str, str], float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="stream-callgrind-") as tmp:
            for workload in workloads:
                parts, size = WORKLOADS[workload]
                for client in clients:
                    short_out = Path(tmp) / f"{client}-{workload}-short.out"
                    short = _count(client, url, workload, streams, short_out)
                    long_out = Path(tmp) / f"{client}-{workload}.out"
                    long = _count(client, url, workload, streams + extra, long_out)
                    value = (long - short) / (extra * parts)
                    per_part[client, workload] = value
                    print(
                        f"{workload:>6} {client:<13} {value / 1e3:9.1f}k instructions/part "
                        f"({extra} x {parts} parts of {size} B)",
                        flush=True,
                    )
                    if top and client.startswith("ours"):
                        _annotate(short_out, long_out, extra * parts, top)
    finally:
        stream_server.stop(proc)
    print()
    for workload in workloads:
        ours = per_part.get(("ours-aiohttp", workload))
        if ours is None:
            continue
        for other in ("aiobotocore", "raw-aiohttp"):
            if (other, workload) in per_part:
                ratio = per_part[other, workload] / ours
                print(f"{workload:>6} instructions/part {other}/ours-aiohttp: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="64B,64KiB")
    parser.add_argument("--streams", type=int, default=1, help="measured streams, short run")
    parser.add_argument("--extra", type=int, default=3, help="more streams in the long run")
    parser.add_argument("--annotate", type=int, default=0, metavar="N", help="top N functions")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.url, args.workloads, args.streams))
        return
    clients = [c for c in args.clients.split(",") if c]
    workloads = [w for w in args.workloads.split(",") if w]
    for c in clients:
        if c not in (*CLIENTS, "ours-httpx"):
            raise SystemExit(f"unknown client {c!r}")
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}")
    parent(clients, workloads, max(1, args.streams), max(1, args.extra), args.annotate)


if __name__ == "__main__":
    main()
