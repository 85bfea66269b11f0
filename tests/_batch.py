"""Helpers the `sagemaker-rt batch` tests share (real-time and async): the fake on loopback with
this process's AWS environment pointing at it, and reading and writing the JSONL files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sagemaker_rt_async.testing import FakeSageMakerRuntime, LoopbackServer


@contextmanager
def served_with_environ(
    fake: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake on loopback, this process's AWS environment (and nothing else) pointing at it."""
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with fake.serve() as srv:
        for name, value in srv.environ().items():
            monkeypatch.setenv(name, value)
        yield srv


def write_input(path: Path, lines: list[str]) -> Path:
    """A JSONL input file, one line per item."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_output(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A batch OUTPUT: its header and its records."""
    header, *found = (json.loads(line) for line in path.read_text().splitlines())
    return header, found
