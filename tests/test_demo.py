"""`make demo` and the examples keep working: they run end to end against the local fake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_demo_runs_every_section() -> None:
    """The demo invokes, fans out, shows typed errors, streams tokens, and awaits async jobs."""
    out = _run("-m", "sagemaker_rt_async.demo")
    for expected in (
        "{'label': 'POSITIVE'",
        "50 answers",
        "ModelError: original_status_code=400",
        "ValidationError: Endpoint no-such-endpoint",
        "ParamValidationError (nothing sent)",
        "Café ☕ for everyone.",
        "finish_reason=length",
        "ModelStreamError: error_code=ModelInvocationTimeExceeded",
        "'words': 30000}",
        "AsyncInferenceFailure for",
    ):
        assert expected in out


def test_invoke_example_runs() -> None:
    """examples/invoke.py runs against the fake by default."""
    assert "olleh" in _run("examples/invoke.py")
