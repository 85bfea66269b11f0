"""Import time: ``import sagemaker_rt_async`` in a fresh interpreter, vs aiobotocore and boto3.

Every sample is a new ``python -c`` process, timed from the parent (``perf_counter`` around
``subprocess.run``: start-up, the import, and the interpreter's exit). The bare interpreter
(``python -c pass``) is timed the same way in the same round and subtracted, so what remains is
what the import adds to a program's start. Contenders, in an order that rotates every round:

* ``bare``         ``pass`` (the baseline, subtracted from the others);
* ``import ours``  ``import sagemaker_rt_async`` (the target: at most 100 ms);
* ``ours+client``  ``from sagemaker_rt_async import SageMakerRuntimeClient`` and constructing
                   one (static credentials, a region: no I/O, no HTTP pool yet);
* ``aiobotocore``  ``import aiobotocore.session`` (reference);
* ``boto3``        ``import boto3`` (reference).

Each child also reports the import's own time, measured inside it (``perf_counter`` around the
statement), printed beside the wall-clock figure. One warm-up sample of each contender runs
first and is discarded (bytecode caches, page cache). The median over ``--samples`` rounds
(at least 15) is reported with its min–max.

Bytecode is cached, as it is for an installed wheel (pip compiles it at install time): the
children write and read ``.pyc`` files under a temporary ``PYTHONPYCACHEPREFIX`` (removed at the
end, nothing is written into the source tree), with ``PYTHONDONTWRITEBYTECODE`` lifted if the
calling environment set it. Without a cache every sample would compile our package's source
again, tens of milliseconds that no installed user pays.

Finally the ten largest cumulative entries of ``python -X importtime -c "import
sagemaker_rt_async"`` are printed, and the self times summed per top-level package, so a miss
names its cause.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time

from _common import Figure, Target, child_env, machine_note, median, print_targets, write_results

CONTENDERS = {
    "bare": "pass",
    "import ours": "import sagemaker_rt_async",
    "ours+client": (
        "from sagemaker_rt_async import SageMakerRuntimeClient; "
        "SageMakerRuntimeClient(region='us-east-1', credentials=('AKIDEXAMPLE', 'secret'))"
    ),
    "aiobotocore": "import aiobotocore.session",
    "boto3": "import boto3",
}
# The statement runs between two clock readings; the child prints the difference.
WRAPPER = "import time; _t = time.perf_counter(); {stmt}; print(time.perf_counter() - _t)"
SAMPLE_TIMEOUT_S = 30.0
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def sample(stmt: str, env: dict[str, str]) -> tuple[float, float]:
    """One fresh interpreter running ``stmt``: (wall seconds seen from here, seconds inside)."""
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - the running interpreter, a fixed statement
        [sys.executable, "-c", WRAPPER.format(stmt=stmt)],
        capture_output=True,
        timeout=SAMPLE_TIMEOUT_S,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"`{stmt}` failed:\n{proc.stderr.decode()[-2000:]}")
    return wall, float(proc.stdout.decode().split()[-1])


def importtime_entries(env: dict[str, str]) -> list[tuple[float, float, str]]:
    """``-X importtime`` of ``import sagemaker_rt_async``: (cumulative ms, self ms, name) each.

    The name keeps its indentation (two spaces per nesting level) to show the import tree.
    """
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sagemaker_rt_async"],
        capture_output=True,
        timeout=SAMPLE_TIMEOUT_S,
        env=env,
        check=True,
    )
    entries = []
    for line in proc.stderr.decode().splitlines():
        match = _IMPORTTIME.match(line)
        if match is not None:
            self_us, cumulative_us, indent, name = match.groups()
            label = " " * (len(indent) - 1) + name
            entries.append((int(cumulative_us) / 1e3, int(self_us) / 1e3, label))
    return entries


def print_importtime(env: dict[str, str]) -> None:
    entries = importtime_entries(env)
    print('\n-X importtime -c "import sagemaker_rt_async", top 10 by cumulative time:')
    print(f"  {'cumulative ms':>13} {'self ms':>8}  module")
    for cumulative, own, label in sorted(entries, key=lambda e: e[0], reverse=True)[:10]:
        print(f"  {cumulative:>13.1f} {own:>8.1f}  {label}")
    # Self times summed per top-level package: whose code the time is spent in, ours or a
    # dependency's (stdlib modules pulled in by a dependency count under their own names).
    by_package: dict[str, float] = {}
    for _, own, label in entries:
        package = label.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + own
    total = sum(by_package.values())
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:8]
    print(f"  self time by top-level package (of {total:.0f} ms under -X importtime): ", end="")
    print(", ".join(f"{name} {ms:.1f}" for name, ms in ranked))


def cached_bytecode_env(cache_dir: str) -> dict[str, str]:
    """The children's environment: hermetic, with ``.pyc`` files kept under ``cache_dir``."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=21, help="fresh processes each (>= 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args()
    samples = max(15, args.samples)
    print(
        f"bench_import: {samples} rounds x {len(CONTENDERS)} fresh interpreters, interleaved; "
        f"bytecode cached under a temporary PYTHONPYCACHEPREFIX; {machine_note()}",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-import-pyc-") as cache_dir:
        env = cached_bytecode_env(cache_dir)
        for stmt in CONTENDERS.values():
            sample(stmt, env)  # warm-up, discarded: writes the bytecode cache
        wall: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        inside: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        order = list(CONTENDERS)
        for _ in range(samples):
            for name in order:
                w, i = sample(CONTENDERS[name], env)
                wall[name].append(w)
                inside[name].append(i)
            order = order[1:] + order[:1]
        report(wall, inside)
        print_importtime(env)
    ours = [(w - b) * 1e3 for w, b in zip(wall["import ours"], wall["bare"], strict=True)]
    seconds = time.perf_counter() - started
    print(f"\ntotal {seconds:.0f} s")
    targets = [Target("import sagemaker_rt_async ms", ours, 100, at_most=True)]
    print_targets(targets)
    figures = [
        Figure(f"{name} ms (added)", added_ms(wall, name), "ms")
        for name in CONTENDERS
        if name not in ("bare", "import ours")
    ]
    figures.append(Figure("bare interpreter ms", [w * 1e3 for w in wall["bare"]], "ms"))
    write_results(args.json, "bench_import", targets, figures, notes={"seconds": round(seconds, 1)})


def added_ms(wall: dict[str, list[float]], name: str) -> list[float]:
    """Per round: the contender's process minus the bare one of the same round, in ms."""
    return [(w - b) * 1e3 for w, b in zip(wall[name], wall["bare"], strict=True)]


def report(wall: dict[str, list[float]], inside: dict[str, list[float]]) -> None:
    added = {name: added_ms(wall, name) for name in CONTENDERS if name != "bare"}
    bare = [w * 1e3 for w in wall["bare"]]
    print(f"\n  {'':<12} {'added to start-up, ms':>26} {'inside the process, ms':>26}")
    print(f"  {'bare':<12} {'(process: ' + f'{median(bare):.1f})':>26}")
    for name, values in added.items():
        ms_inside = [i * 1e3 for i in inside[name]]
        print(
            f"  {name:<12} {median(values):>9.1f} [{min(values):6.1f}–{max(values):6.1f}]"
            f" {median(ms_inside):>9.1f} [{min(ms_inside):6.1f}–{max(ms_inside):6.1f}]"
        )
    ours = added["import ours"]
    for ref in ("aiobotocore", "boto3"):
        ratio = [o / r for o, r in zip(ours, added[ref], strict=True)]
        print(f"  import ours / {ref}: {median(ratio):.2f}x [{min(ratio):.2f}–{max(ratio):.2f}]")


if __name__ == "__main__":
    main()
