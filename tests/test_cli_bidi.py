"""`sagemaker-rt bidi` and `serve-fake --bidi-port`, and the plugin's bidirectional fixtures."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sagemaker_rt_async import SageMakerRuntimeClient
from sagemaker_rt_async.cli import main
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fake's public test credentials in the environment, no profile or config file."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_stdin_lines_in_answers_out(
    sagemaker_bidi_server: FakeBidiServer,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each stdin line is one UTF8 part; each answer is printed on its own line; -v counts."""
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nwörld\n\n"))
    code = main(["bidi", "echo", "--endpoint-url", sagemaker_bidi_server.url, "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "hello\nwörld\n"
    assert "PartsSent: 2" in err and "RequestId: fake-1" in err
    assert sagemaker_bidi_server.sessions[-1].signature_error is None


def test_binary_file_streams_in_chunks(
    sagemaker_bidi_server: FakeBidiServer,
    aws_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--binary FILE --chunk-size N sends the file as BINARY parts of N bytes."""
    audio = tmp_path / "a.raw"
    audio.write_bytes(bytes(range(256)) * 10)
    code = main(
        [
            "bidi",
            "transcriber",
            "--binary",
            str(audio),
            "--chunk-size",
            "1000",
            "--endpoint-url",
            sagemaker_bidi_server.url,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == [
        "heard chunk 1 (1000 bytes)",
        "heard chunk 2 (1000 bytes)",
        "heard chunk 3 (560 bytes)",
        "transcript: 3 chunks, 2560 bytes",
    ]
    assert [p.data_type for p in sagemaker_bidi_server.sessions[-1].parts] == ["BINARY"] * 3


def test_binary_answers_are_written_exactly(
    sagemaker_bidi_server: FakeBidiServer,
    aws_env: None,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """BINARY answers are bytes, not text: stdout holds exactly what the model sent, no
    newline added (the newline rule of every command applies to text only)."""
    audio = tmp_path / "a.raw"
    audio.write_bytes(bytes(range(256)) * 3)
    url = sagemaker_bidi_server.url
    code = main(
        ["bidi", "echo", "--binary", str(audio), "--chunk-size", "500", "--endpoint-url", url]
    )
    out, err = capsysbinary.readouterr()
    assert code == 0, err
    assert out == audio.read_bytes()


def test_a_broken_session_keeps_the_answers_and_ends_the_line(
    sagemaker_bidi_server: FakeBidiServer,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """A ModelStreamError after an answer: the answer's line on stdout, the error on stderr
    ending with a newline, exit 7."""
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    code = main(["bidi", "stream-error", "--endpoint-url", sagemaker_bidi_server.url])
    out, err = capsysbinary.readouterr()
    assert code == 7
    assert out == b"hello\n"
    assert err.startswith(b"error: ModelStreamError") and err.endswith(b"\n")


def test_error_status_exit_code(
    sagemaker_bidi_server: FakeBidiServer,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 424 is printed as the typed error and exits with the client-error code (4)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["bidi", "model-error", "--endpoint-url", sagemaker_bidi_server.url])
    _, err = capsys.readouterr()
    assert code == 4
    assert err.startswith("error: ModelError (HTTP 424")


def test_bad_member_is_a_usage_error(
    aws_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that breaks its pattern is refused before any connection (exit 2)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(
        ["bidi", "echo", "--model-invocation-path", "/x", "--endpoint-url", "http://127.0.0.1:9"]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "--model-invocation-path" in err


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_tls_fixture_serves_a_session(sagemaker_bidi_tls_server: FakeBidiServer) -> None:
    """The plugin's TLS fixture: a client trusting its CA completes a session over ALPN h2."""
    server = sagemaker_bidi_tls_server
    assert server.url.startswith("https://")
    async with (
        SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=TEST_CREDENTIALS,
            ssl_context=server.client_ssl_context(),
        ) as rt,
        rt.invoke_endpoint_with_bidirectional_stream("echo") as session,
    ):
        await session.send("over TLS")
        await session.end_input()
        assert [part.text async for part in session] == ["over TLS"]
