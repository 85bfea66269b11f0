"""Shared helpers of the benchmark scripts: statistics, tables and the target summary lines.

Not a library module: the scripts import it as a sibling (``python benchmarks/<script>.py`` puts
``benchmarks/`` on ``sys.path``). Every number a script prints comes from rounds measured in that
same run; nothing is compared against a stored figure.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

__all__ = [
    "Figure",
    "Target",
    "child_env",
    "fmt_rate",
    "machine_details",
    "machine_note",
    "median",
    "percentile",
    "print_row",
    "print_targets",
    "proc_status_kib",
    "spread",
    "write_results",
]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest-rank: a value that occurred."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def spread(values: Sequence[float]) -> str:
    """``min–max`` of ``values`` in the same unit as :func:`fmt_rate`."""
    return f"{fmt_rate(min(values))}–{fmt_rate(max(values))}"


def fmt_rate(value: float) -> str:
    """Three significant figures with a k/M suffix: 1234567 -> ``1.23M``."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def print_row(label: str, values: Sequence[float], unit: str) -> None:
    print(
        f"  {label:<34} median {fmt_rate(median(values)):>7} {unit:<10}"
        f" spread {spread(values)} (n={len(values)})"
    )


class Target:
    """One target: a per-round series, the bound it must meet, and its direction.

    The verdict is on the median of the series, or on its worst value with ``worst=True``
    (for a bound such as memory growth, where one bad run is the finding).
    """

    def __init__(
        self,
        name: str,
        ratios: Sequence[float],
        need: float,
        *,
        at_most: bool = False,
        worst: bool = False,
    ):
        self.name = name
        self.ratios = list(ratios)
        self.need = need
        self.at_most = at_most
        self.worst = worst

    @property
    def value(self) -> float:
        if self.worst:
            return max(self.ratios) if self.at_most else min(self.ratios)
        return median(self.ratios)

    @property
    def passed(self) -> bool:
        return self.value <= self.need if self.at_most else self.value >= self.need

    def line(self) -> str:
        op = "<=" if self.at_most else ">="
        low, high = min(self.ratios), max(self.ratios)
        verdict = "PASS" if self.passed else "MISS"
        basis = "worst" if self.worst else "median"
        return (
            f"target {self.name}: {self.value:.2f} (need {op} {self.need:g}) {verdict}"
            f"  [{basis}; per-round {low:.2f}–{high:.2f}, n={len(self.ratios)}]"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "need": self.need,
            "at_most": self.at_most,
            "basis": "worst" if self.worst else "median",
            "min": min(self.ratios),
            "max": max(self.ratios),
            "n": len(self.ratios),
            "passed": self.passed,
        }


class Figure:
    """A per-round series reported without a target (a ratio unless ``unit`` says otherwise)."""

    def __init__(self, name: str, values: Sequence[float], unit: str = "x") -> None:
        self.name = name
        self.values = list(values)
        self.unit = unit

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": median(self.values),
            "min": min(self.values),
            "max": max(self.values),
            "n": len(self.values),
            "unit": self.unit,
        }


def write_results(
    path: str | None,
    script: str,
    targets: Sequence[Target],
    figures: Sequence[Figure] = (),
    notes: Mapping[str, object] | None = None,
) -> None:
    """Write a script's targets and figures as JSON to ``path`` (nothing if ``path`` is None).

    ``run_all.py`` reads these files to print the one summary table of ``make bench``.
    """
    if path is None:
        return
    document = {
        "script": script,
        "targets": [t.as_dict() for t in targets],
        "figures": [f.as_dict() for f in figures],
        "notes": dict(notes or {}),
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)


def print_targets(targets: Sequence[Target]) -> None:
    print()
    for target in targets:
        print(target.line())
    sys.stdout.flush()


def machine_note() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


_VERSIONS = (
    "sagemaker-rt-async",
    "httpx",
    "httpcore",
    "httpx-aiohttp",
    "aiohttp",
    "anyio",
    "aiobotocore",
    "botocore",
    "boto3",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_details() -> dict[str, str]:
    """What a reader needs to weigh the numbers: CPU, cores, OS, Python, package versions."""
    versions = []
    for name in _VERSIONS:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": f"{_cpu_model()}, {os.cpu_count()} CPUs ({usable} usable)",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
    }


def proc_status_kib(field: str) -> int:
    """A ``/proc/self/status`` size in KiB (``VmRSS``, ``VmHWM``); Linux only."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_env() -> dict[str, str]:
    """The environment for a benchmark's child process: hermetic, nothing leaves loopback.

    No shared AWS config, no IMDS probes, no proxies; credentials are passed in code.
    """
    env = dict(os.environ)
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1",
    )
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(key, None)
    return env
