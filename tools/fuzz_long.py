"""Long fuzz run of the event-stream decoder and every framing decoder (outside CI).

The command (``make fuzz`` runs the same, with these defaults)::

    .venv/bin/python tools/fuzz_long.py --inputs 1000000 --seed 1

    # both cores, 2 x 500,000 inputs; coverage-guided instead (needs `pip install atheris`):
    .venv/bin/python tools/fuzz_long.py --inputs 1000000 --seed 1 --jobs 2
    .venv/bin/python tools/fuzz_long.py --inputs 1000000 --seed 1 --engine atheris

What one input is: a byte string from the structure-aware generators of tests/_fuzz_inputs.py
(the ones tests/test_fuzz.py runs in CI, here with deep JSON near the recursion limit too), fed
to one target decoder twice, whole and cut at random points, then ``close()``. The targets are
``EventStreamDecoder`` once per event-stream generator (random bytes, hostile preludes, hostile
header blocks, mutated streams, valid streams; limits from 16 bytes to 4 GiB) and each framing
decoder (``LineDecoder``, ``SSEDecoder``, ``JSONLinesDecoder``, ``TokenDecoder`` in each of
``TOKEN_FORMATS``), round robin. Checked: only ``EventStreamProtocolError`` /
``FramingError`` / ``ContainerError`` escape; the result is the same whole and cut;
``buffered`` never exceeds ``max_message_size``; and the process's resident memory (VmRSS)
stays under ``--max-rss-mb``.

Engines: ``plain`` (default) draws the generators' choices from ``random.Random(seed)``
(worker ``i`` of ``--jobs`` uses ``seed * 1000 + i``), so a run is reproducible. ``atheris``
(coverage-guided libFuzzer, library code instrumented) reads the choices from the fuzzer's
input bytes instead (first byte: the target), with ``-runs``/``-seed``/``-max_total_time``/
``-rss_limit_mb`` set from the options.

Exit status: 0 when every input passed; 1 on the first disallowed exception or broken
invariant, after writing the input (hex and raw), the target and the traceback under
``--crash-dir`` (default: a folder in the temporary directory); 2 when VmRSS went over
``--max-rss-mb``. ``--max-seconds`` bounds the run (it then stops early, status 0, and says
so). ``--ignore-known-bugs`` counts the bugs listed in ``_fuzz_inputs.KNOWN_BUGS`` (each has an
xfail test in tests/test_fuzz.py) instead of stopping at them.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _fuzz_inputs as fz  # noqa: E402  (tests/ is put on the path just above)

import sagemaker_rt_async._errors  # noqa: E402
import sagemaker_rt_async._eventstream  # noqa: E402
import sagemaker_rt_async._framing  # noqa: E402
import sagemaker_rt_async._tokens  # noqa: E402

# ------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[random.Random], tuple[str, object]]  # -> (outcome label, the case)


def _es_target(name: str, generator: Callable[[random.Random], bytes]) -> Target:
    def run(rng: random.Random) -> tuple[str, object]:
        case = fz.event_stream_case(rng, generator)
        return _checked(case, lambda: fz.check_event_stream(case))

    return Target(name, run)


_FRAMING_GENERATORS = tuple(fz.FRAMING_GENERATORS.values())


def _framing_target(decoder: str) -> Target:
    def run(rng: random.Random) -> tuple[str, object]:
        case = fz.framing_case(rng, rng.choice(_FRAMING_GENERATORS))
        return _checked(case, lambda: fz.check_framing(decoder, case))

    return Target(decoder, run)


class CaseFailure(Exception):
    """A target failed: carries the case (its input) with the original exception as cause."""

    def __init__(self, case: object) -> None:
        super().__init__(repr(case))
        self.case = case


def _checked(case: object, check: Callable[[], str]) -> tuple[str, object]:
    try:
        return check(), case
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise CaseFailure(case) from exc


TARGETS: tuple[Target, ...] = (
    *(_es_target(name, gen) for name, gen in fz.ES_GENERATORS.items()),
    *(_framing_target(name) for name in fz.FRAMING_DECODERS),
)


# ------------------------------------------------------------------------------- reporting


def say(*lines: str, err: bool = False) -> None:
    """Print, flushed at once (progress lines must show while a long run goes on)."""
    stream = sys.stderr if err else sys.stdout
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB, from /proc/self/status (0 where unavailable)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def write_crash(crash_dir: Path, target: str, failure: BaseException, tag: str) -> Path:
    """Write the failing input (hex and raw bytes), its target and traceback; return the file."""
    crash_dir.mkdir(parents=True, exist_ok=True)
    cause = failure.__cause__ if isinstance(failure, CaseFailure) else failure
    case = failure.case if isinstance(failure, CaseFailure) else None
    data: bytes = getattr(case, "data", b"")
    path = crash_dir / f"crash-{target}-{tag}.txt"
    lines = [
        f"target: {target}",
        f"exception: {type(cause).__name__}: {str(cause)[:2000]}",
        f"known bug: {fz.known_bug(cause) if cause is not None else None}",
        f"case: {case!r}",
        f"input ({len(data)} bytes), hex:",
        data.hex(),
        "",
        "".join(traceback.format_exception(cause)) if cause is not None else "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".bin").write_bytes(data)
    return path


@dataclass
class Stats:
    inputs: int = 0
    per_target: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    known: Counter[str] = field(default_factory=Counter)
    peak_rss_mb: float = 0.0
    status: int = 0
    message: str = ""
    timed_out: bool = False

    def merge(self, other: Stats) -> None:
        self.inputs += other.inputs
        self.per_target.update(other.per_target)
        self.outcomes.update(other.outcomes)
        self.known.update(other.known)
        self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)
        self.timed_out = self.timed_out or other.timed_out
        if other.status and not self.status:
            self.status, self.message = other.status, other.message


# ------------------------------------------------------------------------------ plain engine


@dataclass(frozen=True)
class Job:
    worker: int
    inputs: int
    seed: int
    deadline: float
    max_rss_mb: float
    crash_dir: Path
    ignore_known: bool
    progress_every: float


def run_plain(job: Job) -> Stats:
    rng = random.Random(job.seed)  # noqa: S311  (fuzzing, not cryptography)
    stats = Stats()
    start = last = time.monotonic()
    for i in range(job.inputs):
        target = TARGETS[i % len(TARGETS)]
        try:
            label, _ = target.run(rng)
        except CaseFailure as failure:
            known = fz.known_bug(failure.__cause__) if failure.__cause__ else None
            if known is not None and job.ignore_known:
                stats.known[f"{target.name}: {known}"] += 1
                label = f"known bug {known}"
            else:
                path = write_crash(job.crash_dir, target.name, failure, f"{job.seed}-{i}")
                stats.status = 1
                stats.message = (
                    f"worker {job.worker}: input #{i} of target {target.name} failed: "
                    f"{type(failure.__cause__).__name__}: {str(failure.__cause__)[:300]} "
                    f"(input and traceback in {path})"
                )
                return stats
        stats.inputs += 1
        stats.per_target[target.name] += 1
        stats.outcomes[f"{target.name}: {label}"] += 1
        if i % 1000 == 999:
            rss, _ = rss_mb()
            stats.peak_rss_mb = max(stats.peak_rss_mb, rss)
            if rss > job.max_rss_mb:
                stats.status = 2
                stats.message = (
                    f"worker {job.worker}: VmRSS {rss:.0f} MiB > --max-rss-mb "
                    f"{job.max_rss_mb:.0f} after {stats.inputs} inputs"
                )
                return stats
            now = time.monotonic()
            if now >= job.deadline:
                stats.timed_out = True
                return stats
            if now - last >= job.progress_every:
                last = now
                rate = stats.inputs / (now - start)
                say(
                    f"[worker {job.worker}] {stats.inputs:,} inputs, {rate:,.0f}/s, "
                    f"VmRSS {rss:.0f} MiB"
                )
    stats.peak_rss_mb = max(stats.peak_rss_mb, *rss_mb())
    return stats


def run_jobs(args: argparse.Namespace) -> Stats:
    deadline = time.monotonic() + args.max_seconds
    share, extra = divmod(args.inputs, args.jobs)
    jobs = [
        Job(
            worker=i,
            inputs=share + (1 if i < extra else 0),
            seed=args.seed * 1000 + i if args.jobs > 1 else args.seed,
            deadline=deadline,
            max_rss_mb=args.max_rss_mb,
            crash_dir=args.crash_dir,
            ignore_known=args.ignore_known_bugs,
            progress_every=args.progress_every,
        )
        for i in range(args.jobs)
    ]
    total = Stats()
    if args.jobs == 1:
        total.merge(run_plain(jobs[0]))
        return total
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for stats in pool.imap_unordered(run_plain, jobs):
            total.merge(stats)
            if stats.status:
                pool.terminate()  # the first failure ends the run
                break
    return total


# ---------------------------------------------------------------------------- atheris engine


def _instrument(atheris: Any, module: ModuleType) -> None:
    """Instrument the functions and methods defined in ``module`` (not what it imported)."""
    for value in list(vars(module).values()):
        candidates = [value]
        if isinstance(value, type) and value.__module__ == module.__name__:
            candidates = [getattr(v, "fget", v) for v in vars(value).values()]
            candidates = [getattr(v, "__func__", v) for v in candidates]
        for candidate in candidates:
            code = getattr(candidate, "__code__", None)
            if code is not None and code.co_filename == module.__file__:
                atheris.instrument_func(candidate)


def run_atheris(args: argparse.Namespace) -> int:
    try:
        atheris: Any = importlib.import_module("atheris")  # optional, and untyped
    except ImportError:
        say("atheris is not installed: `.venv/bin/pip install atheris`", err=True)
        return 3
    for module in (
        sagemaker_rt_async._errors,
        sagemaker_rt_async._eventstream,
        sagemaker_rt_async._framing,
        sagemaker_rt_async._tokens,
    ):
        _instrument(atheris, module)
    stats = Stats()
    start = time.monotonic()

    def one_input(data: bytes) -> None:
        target = TARGETS[data[0] % len(TARGETS)] if data else TARGETS[0]
        try:
            label, _ = target.run(fz.BytesRandom(data[1:]))
        except CaseFailure as failure:
            known = fz.known_bug(failure.__cause__) if failure.__cause__ else None
            if known is None or not args.ignore_known_bugs:
                path = write_crash(args.crash_dir, target.name, failure, data[:16].hex())
                say(f"\nFAILED: target {target.name}; input and traceback in {path}")
                raise
            label = f"known bug {known}"
            stats.known[f"{target.name}: {known}"] += 1
        stats.inputs += 1
        stats.per_target[target.name] += 1
        stats.outcomes[f"{target.name}: {label}"] += 1
        if stats.inputs % 100_000 == 0 or stats.inputs >= args.inputs:
            stats.peak_rss_mb = max(stats.peak_rss_mb, rss_mb()[1])
            print_summary(stats, time.monotonic() - start, engine="atheris")

    # libFuzzer exits the process itself (after -runs inputs or -max_total_time seconds), so the
    # summary is printed from inside the loop, every 100,000 inputs and after the last one.
    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={args.inputs}",
            f"-seed={args.seed}",
            f"-max_total_time={int(args.max_seconds)}",
            f"-rss_limit_mb={int(args.max_rss_mb)}",
            "-max_len=8192",
            "-len_control=0",  # long inputs from the start: each byte is a generator choice
            "-print_final_stats=1",
            f"-artifact_prefix={args.crash_dir}/",
        ],
        one_input,
    )
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    atheris.Fuzz()
    return 0  # not reached: libFuzzer exits


# -------------------------------------------------------------------------------------- main


def print_summary(stats: Stats, seconds: float, *, engine: str) -> None:
    rate = stats.inputs / seconds if seconds else 0.0
    rss, hwm = rss_mb()
    lines = [
        f"\nengine {engine}: {stats.inputs:,} inputs in {seconds:,.1f} s = {rate:,.0f} inputs/s",
        f"peak VmRSS {max(stats.peak_rss_mb, hwm):.0f} MiB (this process now: {rss:.0f} MiB)",
        "inputs per target (and their outcomes):",
    ]
    for name, count in sorted(stats.per_target.items()):
        outcomes = {
            key.split(": ", 1)[1]: n
            for key, n in stats.outcomes.items()
            if key.split(": ", 1)[0] == name
        }
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        lines.append(f"  {name:20} {count:>10,}   ({detail})")
    lines += [f"  known bug hit: {name} x {count:,}" for name, count in sorted(stats.known.items())]
    say(*lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("plain", "atheris"), default="plain")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (plain engine)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="time bound")
    parser.add_argument("--max-rss-mb", type=float, default=1024.0, help="VmRSS bound per process")
    parser.add_argument(
        "--crash-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sagemaker-rt-async-fuzz",
        help="where a failing input is written (default: %(default)s)",
    )
    parser.add_argument("--ignore-known-bugs", action="store_true")
    parser.add_argument("--progress-every", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    if args.inputs < 1 or args.jobs < 1:
        parser.error("--inputs and --jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say(
        f"fuzzing {len(TARGETS)} targets: {', '.join(t.name for t in TARGETS)}",
        f"engine {args.engine}, {args.inputs:,} inputs, seed {args.seed}, jobs {args.jobs}, "
        f"max {args.max_seconds:.0f} s, max VmRSS {args.max_rss_mb:.0f} MiB",
    )
    if args.engine == "atheris":
        return run_atheris(args)
    start = time.monotonic()
    stats = run_jobs(args)
    print_summary(stats, time.monotonic() - start, engine="plain")
    if stats.status:
        say(f"\nFAILED: {stats.message}")
        return stats.status
    if stats.timed_out:
        say(f"\nstopped by --max-seconds after {stats.inputs:,} of {args.inputs:,} inputs")
    else:
        say(f"\nOK: {stats.inputs:,} inputs, no disallowed exception, no broken invariant")
    return 0


if __name__ == "__main__":
    sys.exit(main())
