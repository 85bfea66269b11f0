"""Run every benchmark once (what ``make bench`` does) and end with one table of the targets.

The scripts run one after the other, each in its own process group with a time limit, their
output passed through as it comes. Each writes its results as JSON (``--json``) into a
temporary directory (or ``--json-dir``); from those this prints, in Markdown ready to paste
into the README's "Performance" section: the machine, the InvokeEndpoint ratios of ours
against every other client, the other figures reported without a target, and last, one table
with every target of the issue, its measured value, its per-round spread and PASS / MISS.

Exit status: 0 when every script ran, whatever the verdicts (a miss is a finding to report,
not a broken build); 1 when a script failed or ran out of time (its targets then read FAILED).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_details

HERE = Path(__file__).resolve().parent

# name -> (script, seconds it may take at most). The order is the order they run in.
SCRIPTS = {
    "decoder": ("bench_decoder.py", 180.0),
    "tokens": ("bench_tokens.py", 180.0),
    "stream": ("bench_stream.py", 240.0),
    "rss": ("bench_rss.py", 240.0),
    "invoke": ("bench_invoke.py", 300.0),
    "import": ("bench_import.py", 180.0),
    "batch": ("bench_batch.py", 300.0),
    "ray": ("bench_ray.py", 300.0),
}

# Every target of the issue, in the order: target name -> (script, what it is, unit).
TARGETS = {
    "invoke_c64 req/s ours-aiohttp/aiobotocore": (
        "invoke",
        "InvokeEndpoint, 64 concurrent: req/s, ours ÷ aiobotocore",
        "x",
    ),
    "invoke_c64 CPU/req ours-aiohttp/raw-aiohttp": (
        "invoke",
        "InvokeEndpoint, 64 concurrent: client CPU/request, ours ÷ raw unsigned aiohttp",
        "x",
    ),
    "invoke_c1 req/s ours-aiohttp/aiobotocore": (
        "invoke",
        "InvokeEndpoint, one at a time: req/s, ours ÷ aiobotocore",
        "x",
    ),
    "async_c64 req/s ours-aiohttp/aiobotocore": (
        "invoke",
        "InvokeEndpointAsync, 64 concurrent: req/s, ours ÷ aiobotocore",
        "x",
    ),
    "stream_64B ours-aiohttp/aiobotocore": (
        "stream",
        "Response stream, 2000 × 64 B parts: parts/s, ours ÷ aiobotocore",
        "x",
    ),
    "stream_64KiB ours-aiohttp/aiobotocore": (
        "stream",
        "Response stream, 200 × 64 KiB parts: MB/s, ours ÷ aiobotocore",
        "x",
    ),
    "decoder_64B_per_chunk ours/botocore": (
        "decoder",
        "Decoder, 64 B messages, one per feed: msg/s, ours ÷ botocore",
        "x",
    ),
    "decoder_64B_mix ours/botocore": (
        "decoder",
        "Decoder, 64 B messages, socket-like reads: msg/s, ours ÷ botocore",
        "x",
    ),
    "decoder_64KiB_whole ours/floor": (
        "decoder",
        "Decoder, 64 KiB messages fed whole: MB/s, ours ÷ CRC floor",
        "x",
    ),
    "decoder_64KiB_16KiB_chunks ours/floor": (
        "decoder",
        "Decoder, 64 KiB messages in 16 KiB reads: MB/s, ours ÷ CRC floor",
        "x",
    ),
    "tokens_tgi_sse CPU/token tokens()/floor": (
        "tokens",
        "stream.tokens(), TGI SSE: CPU per token ÷ a json.loads-per-line floor",
        "x",
    ),
    "tokens_openai_sse CPU/token tokens()/floor": (
        "tokens",
        "stream.tokens(), OpenAI SSE: CPU per token ÷ a json.loads-per-line floor",
        "x",
    ),
    "tokens_lmi_lines CPU/token tokens()/floor": (
        "tokens",
        "stream.tokens(), LMI JSON lines: CPU per token ÷ a json.loads-per-line floor",
        "x",
    ),
    "sigv4 ours/botocore time": (
        "decoder",
        "SigV4 signing: time per request, ours ÷ botocore SigV4Auth",
        "x",
    ),
    "import sagemaker_rt_async ms": (
        "import",
        "`import sagemaker_rt_async`, fresh process, bare start subtracted",
        "ms",
    ),
    "rss_growth_1GiB_stream MiB": (
        "rss",
        "RSS growth while streaming 1 GiB (worst run)",
        "MiB",
    ),
    "map_iter_1000k_rows rss_growth MiB": (
        "batch",
        "RSS growth, 1,000,000 generated inputs through map_invoke_iter",
        "MiB",
    ),
}

_INVOKE_FIGURE = re.compile(r"^(invoke_c1|invoke_c64|async_c64) (req/s|CPU/req) ours-aiohttp/(.+)$")


def run_script(script: str, limit: float, json_path: Path) -> str:
    """Run one benchmark, its output passed through; what went wrong, or "" if nothing."""
    command = [sys.executable, str(HERE / script), "--json", str(json_path)]
    print(f"\n=== {script} (limit {limit:.0f} s)", flush=True)
    # A process group of its own: on timeout the script, its server and its clients all go.
    proc = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - fixed arguments
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return f"killed after {limit:.0f} s"
    finally:
        if proc.poll() is None:  # interrupted (Ctrl-C): take the group down with us
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if code != 0:
        return f"exit status {code}"
    if not json_path.exists():
        return "wrote no results"
    return ""


def _num(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:.1f} {unit}"


def _spread(low: float, high: float, unit: str) -> str:
    if unit == "x":
        return f"{low:.2f}–{high:.2f}×"
    return f"{low:.1f}–{high:.1f} {unit}"


def _need(target: dict[str, Any], unit: str) -> str:
    op = "≤" if target["at_most"] else "≥"
    return f"{op} {target['need']:g}{'×' if unit == 'x' else ' ' + unit}"


def print_machine(notes: dict[str, Any], started_load: tuple[float, ...], seconds: float) -> None:
    details = machine_details()
    load = os.getloadavg()
    print("\n## Performance (one `make bench` run)\n")
    print(f"* Machine: {details['cpu']}; {details['os']}; {details['python']}.")
    print(f"* Packages: {details['packages']}.")
    print(
        f"* Load average (1 min) {started_load[0]:.2f} at the start, {load[0]:.2f} at the end "
        "(the machine is shared: every ratio is paired within a round, then the median taken)."
    )
    if "pinning" in notes:
        print(f"* bench_invoke {notes['pinning']}.")
    print(f"* Whole run: {seconds:.0f} s.")


def print_invoke_matrix(figures: list[dict[str, Any]]) -> None:
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for figure in figures:
        match = _INVOKE_FIGURE.match(figure["name"])
        if match is not None:
            phase, metric, other = match.groups()
            cells.setdefault(other, {})[f"{phase} {metric}"] = figure
    if not cells:
        return
    columns = [
        "invoke_c1 req/s",
        "invoke_c64 req/s",
        "invoke_c1 CPU/req",
        "invoke_c64 CPU/req",
        "async_c64 req/s",
        "async_c64 CPU/req",
    ]
    print(
        "\nInvokeEndpoint (c1, c64) and InvokeEndpointAsync (c64), ours-aiohttp ÷ each client: "
        "median of per-round ratios [min–max]. req/s above 1 = ours faster; CPU/req below 1 = "
        "ours cheaper.\n"
    )
    print("| ours ÷ | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for other, row in cells.items():
        values = []
        for column in columns:
            f = row.get(column)
            values.append("—" if f is None else f"{f['value']:.2f} [{f['min']:.2f}–{f['max']:.2f}]")
        print(f"| {other} | " + " | ".join(values) + " |")


def print_other_figures(figures: list[dict[str, Any]]) -> None:
    rest = [f for f in figures if _INVOKE_FIGURE.match(f["name"]) is None]
    if not rest:
        return
    print("\nOther figures (no target): median [per-round min–max], n rounds.\n")
    print("| figure | median | spread | n |")
    print("|---|---|---|---|")
    for f in rest:
        print(
            f"| {f['name']} | {_num(f['value'], f['unit'])} | "
            f"{_spread(f['min'], f['max'], f['unit'])} | {f['n']} |"
        )


def print_targets_table(
    chosen: list[str], results: dict[str, dict[str, Any]], problems: dict[str, str]
) -> int:
    """The one table of every target of the benchmarks run; returns how many were missed."""
    targets: dict[str, dict[str, Any]] = {}
    for document in results.values():
        for target in document["targets"]:
            targets[target["name"]] = target
    names = [name for name, (script, _, _) in TARGETS.items() if script in chosen]
    names += [name for name in targets if name not in TARGETS]
    print("\nTargets of the issue: the verdict is on the median of the per-round values")
    print("(the worst run for RSS).\n")
    print("| target | need | measured | per-round spread | n | verdict |")
    print("|---|---|---|---|---|---|")
    missed = 0
    for name in names:
        script, what, unit = TARGETS.get(name, ("", name, "x"))
        target = targets.get(name)
        if target is None:
            why = problems.get(script, "not reported")
            print(f"| {what} | | | | | FAILED ({why}) |")
            continue
        verdict = "PASS" if target["passed"] else "MISS"
        missed += not target["passed"]
        spread = _spread(target["min"], target["max"], unit)
        print(
            f"| {what} | {_need(target, unit)} | **{_num(target['value'], unit)}** | {spread} "
            f"| {target['n']} | {verdict} |"
        )
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {', '.join(SCRIPTS)} (default: all)"
    )
    parser.add_argument("--json-dir", help="keep each script's JSON results in this directory")
    args = parser.parse_args()
    chosen = list(SCRIPTS) if not args.only else [s.strip() for s in args.only.split(",")]
    for name in chosen:
        if name not in SCRIPTS:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(SCRIPTS)}")

    started = time.perf_counter()
    started_load = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-results-") as scratch:
        out_dir = Path(args.json_dir or scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            script, limit = SCRIPTS[name]
            path = out_dir / f"{name}.json"
            path.unlink(missing_ok=True)  # a stale file from an earlier run must not count
            problem = run_script(script, limit, path)
            if problem:
                problems[name] = problem
                print(f"=== {script} FAILED: {problem}", flush=True)
                continue
            results[name] = json.loads(path.read_text(encoding="utf-8"))
    seconds = time.perf_counter() - started

    notes: dict[str, Any] = {}
    figures: list[dict[str, Any]] = []
    for document in results.values():
        notes.update(document["notes"])
        figures += document["figures"]
    print_machine(notes, started_load, seconds)
    print_invoke_matrix(figures)
    print_other_figures(figures)
    missed = print_targets_table(chosen, results, problems)
    reported = sum(len(d["targets"]) for d in results.values())
    print(
        f"\n{reported - missed} of {reported} targets met, {missed} missed"
        + (f"; {len(problems)} benchmark(s) FAILED: {', '.join(problems)}" if problems else "")
        + f"; {seconds:.0f} s in all.",
        flush=True,
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
