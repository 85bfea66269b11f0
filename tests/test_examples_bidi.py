"""The bidirectional-stream examples run against the fake endpoint and do what they document.

The WAV script runs as a subprocess (``-W error``, bounded in time); the WebSocket bridge runs
in-process under Starlette's test client, with the AWS environment pointing at a fake.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

import bidi_wav  # noqa: E402
import fastapi_ws_bridge  # noqa: E402


def test_wav_is_cut_into_20_ms_chunks() -> None:
    """A 1 s 16 kHz mono tone is fifty 640-byte chunks."""
    chunks = bidi_wav.pcm_chunks(bidi_wav.tone_wav(1.0))
    assert [len(c) for c in chunks] == [640] * 50


def test_wav_example_prints_the_transcriber_live() -> None:
    """`python examples/bidi_wav.py --fake` prints one line per chunk, then the transcript."""
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / "bidi_wav.py"), "--fake"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "heard chunk 1 (640 bytes)"
    assert lines[49] == "heard chunk 50 (640 bytes)"
    assert lines[-1] == "transcript: 50 chunks, 32000 bytes"


@pytest.fixture
def bridge(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[TestClient, FakeBidiServer]]:
    """The bridge app with its lifespan run, its client pointed at a fake endpoint."""
    with FakeBidiServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        monkeypatch.setenv("AWS_REGION", server.region)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS.secret_access_key)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        with TestClient(fastapi_ws_bridge.app) as client:
            yield client, server


def test_websocket_messages_round_trip(bridge: tuple[TestClient, FakeBidiServer]) -> None:
    """Binary and text WebSocket messages reach the model as BINARY / UTF8 parts; its answers
    come back as the same kinds; the session ends when the browser leaves."""
    client, server = bridge
    with client.websocket_connect("/bidi?endpoint=echo") as ws:
        ws.send_bytes(b"\x00audio")
        assert ws.receive_bytes() == b"\x00audio"
        ws.send_text("héllo")
        assert ws.receive_text() == "héllo"
    record = server.sessions[-1]
    assert [p.data_type for p in record.parts] == ["BINARY", "UTF8"]
    assert record.signature_error is None


def test_fragmented_answers_arrive_whole(bridge: tuple[TestClient, FakeBidiServer]) -> None:
    """A PARTIAL…COMPLETE answer is one WebSocket message."""
    client, _ = bridge
    with client.websocket_connect("/bidi?endpoint=fragmented") as ws:
        ws.send_text("añb€c")
        assert ws.receive_text() == "got: añb€c"


def test_model_failure_closes_with_1011(bridge: tuple[TestClient, FakeBidiServer]) -> None:
    """A typed error closes the socket with code 1011 and the error's class as reason."""
    client, _ = bridge
    with client.websocket_connect("/bidi?endpoint=model-error") as ws:
        ws.send_bytes(b"x")
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_bytes()
    assert caught.value.code == 1011
    assert caught.value.reason == "ModelError"
