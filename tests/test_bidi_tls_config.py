"""Bidirectional sessions follow the client's own TLS settings, as the other engines do.

Without ``ssl_context=``, the HTTP/2 engine verifies certificates exactly as ``verify=`` /
``AWS_CA_BUNDLE`` / the profile's ``ca_bundle`` say, in a context of its own that offers ALPN
``h2`` (never set on the context the HTTP/1.1 engines share). A ``verify=`` that is itself an
``ssl.SSLContext`` cannot be given ALPN behind the user's back: that is a clear
``ParamValidationError`` naming ``ssl_context``, before any connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_rt_async import ParamValidationError, SageMakerRuntimeClient, TransportError
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture
def server() -> Iterator[FakeBidiServer]:
    """The fake endpoint over TLS, its certificate from a fresh test CA."""
    with FakeBidiServer(tls=True) as fake:
        yield fake


def _client(server: FakeBidiServer, **tls: object) -> SageMakerRuntimeClient:
    return SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=TEST_CREDENTIALS,
        retry=False,
        **tls,  # type: ignore[arg-type]
    )


async def _echo(rt: SageMakerRuntimeClient) -> list[bytes]:
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"over TLS")
        await session.end_input()
        return [part.data async for part in session]


async def test_verify_with_a_ca_bundle_path_reaches_http2(
    server: FakeBidiServer, tmp_path: Path
) -> None:
    """``verify=<the CA's PEM>`` alone: the session verifies the server and speaks h2."""
    ca = server.write_ca(tmp_path / "ca.pem")
    async with _client(server, verify=str(ca)) as rt:
        assert await _echo(rt) == [b"over TLS"]


async def test_the_ca_bundle_from_the_environment_reaches_http2(
    server: FakeBidiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AWS_CA_BUNDLE`` is honoured by the HTTP/2 engine as by the others."""
    monkeypatch.setenv("AWS_CA_BUNDLE", str(server.write_ca(tmp_path / "ca.pem")))
    async with _client(server) as rt:
        assert await _echo(rt) == [b"over TLS"]


async def test_without_the_ca_the_certificate_is_refused(server: FakeBidiServer) -> None:
    """The system CAs do not know the test CA: a typed TransportError, nothing sent."""
    async with _client(server) as rt:
        with pytest.raises(TransportError):
            await _echo(rt)
    assert server.sessions == []
    assert server.streams_opened == 0


async def test_verify_false_skips_verification_for_http2_too(server: FakeBidiServer) -> None:
    """``verify=False`` applies to every engine."""
    async with _client(server, verify=False) as rt:
        assert await _echo(rt) == [b"over TLS"]


async def test_an_sslcontext_in_verify_asks_for_ssl_context(server: FakeBidiServer) -> None:
    """The user's own context is not given ALPN silently: ``ssl_context=`` is named."""
    async with _client(server, verify=ssl.create_default_context()) as rt:
        with pytest.raises(ParamValidationError, match="ssl_context"):
            await _echo(rt)
    async with _client(
        server,
        verify=ssl.create_default_context(),
        ssl_context=server.client_ssl_context(),
    ) as rt:
        assert await _echo(rt) == [b"over TLS"]
