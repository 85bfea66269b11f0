"""Bidirectional sessions follow the client's proxy settings, as the HTTP/1.1 engines do.

``_proxy.ConnectProxy`` (a CONNECT proxy on loopback recording every tunnel) sits in front of
the test kit's HTTP/2 fake served over TLS with a ``trustme`` CA: the session's connection is a
CONNECT tunnel, then TLS with ALPN ``h2`` inside it, verified end to end. HTTPS_PROXY and
NO_PROXY are read as botocore reads them; ``proxies=`` with credentials sends Basic
``Proxy-Authorization`` and a refusal (407) is a typed error that never shows the password.
asyncio and trio.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import trustme
from _proxy import ConnectProxy

from sagemaker_rt_async import SageMakerRuntimeClient, TransportError
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer

pytestmark = pytest.mark.anyio

WAIT_S = 10.0
PASSWORD = "p@ss w0rd:secret"
QUOTED_PASSWORD = "p%40ss%20w0rd%3Asecret"
_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[FakeBidiServer]:
    """The fake endpoint over TLS (certificate for localhost and 127.0.0.1)."""
    with FakeBidiServer(tls=True) as fake:
        yield fake


@pytest.fixture
def ca_file(server: FakeBidiServer, tmp_path: Path) -> Path:
    """The fake's CA as a PEM file."""
    return server.write_ca(tmp_path / "ca.pem")


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    """A CONNECT proxy on loopback recording its tunnels."""
    with ConnectProxy() as running:
        yield running


def _client(server: FakeBidiServer, ca_file: Path, **options: object) -> SageMakerRuntimeClient:
    return SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=f"https://localhost:{server.port}",
        credentials=TEST_CREDENTIALS,
        verify=str(ca_file),
        retry=False,
        **options,  # type: ignore[arg-type]
    )


async def _echo(rt: SageMakerRuntimeClient, text: bytes) -> list[bytes]:
    with anyio.fail_after(WAIT_S):
        async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
            await session.send(text)
            await session.end_input()
            return [part.data async for part in session]


async def test_a_session_goes_through_the_environment_proxy(
    server: FakeBidiServer, ca_file: Path, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY: one CONNECT to the endpoint's host:port, TLS verified inside the tunnel,
    the sessions (two, multiplexed on that one connection) work."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with _client(server, ca_file) as rt:
        assert await _echo(rt, b"through the tunnel") == [b"through the tunnel"]
        assert await _echo(rt, b"same connection") == [b"same connection"]
    assert proxy.connects == [(f"localhost:{server.port}", None)]
    assert server.total_connections == 1


@pytest.mark.parametrize(
    "no_proxy", ["localhost", "*", "example.com, LOCALHOST", "localhost:{port}"]
)
async def test_no_proxy_bypasses_the_proxy(
    server: FakeBidiServer,
    ca_file: Path,
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    """NO_PROXY naming the endpoint's host (any of botocore's forms): a direct connection."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=server.port))
    async with _client(server, ca_file) as rt:
        assert await _echo(rt, b"direct") == [b"direct"]
    assert proxy.connects == []
    assert server.total_connections == 1


async def test_h2c_through_a_tunnel(monkeypatch: pytest.MonkeyPatch, proxy: ConnectProxy) -> None:
    """An ``http://`` endpoint with an http proxy: h2c with prior knowledge inside the tunnel
    (the server's SETTINGS may follow the proxy's answer at once: none of it is lost)."""
    with FakeBidiServer() as plain:
        async with SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=f"http://localhost:{plain.port}",
            credentials=TEST_CREDENTIALS,
            proxies={"http": proxy.url},
            retry=False,
        ) as rt:
            assert await _echo(rt, b"clear text") == [b"clear text"]
    assert proxy.connects == [(f"localhost:{plain.port}", None)]


async def test_proxy_credentials_are_sent_and_a_407_never_shows_them(
    server: FakeBidiServer, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``proxies=`` with user:password: Basic Proxy-Authorization on the CONNECT. A wrong
    password: the proxy's 407 is a TransportError naming the status, nothing reached the
    endpoint, and the password is in no message, repr, chained exception or log line."""
    caplog.set_level(logging.DEBUG)
    with ConnectProxy(credentials=("user", PASSWORD)) as proxy:
        good = f"http://user:{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(server, ca_file, proxies={"https": good}) as rt:
            assert await _echo(rt, b"authorised") == [b"authorised"]
            shown = repr(rt)
        [(target, authorization)] = proxy.connects
        assert target == f"localhost:{server.port}"
        assert authorization is not None and authorization.startswith("Basic ")
        bad = f"http://user:wrong-{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(server, ca_file, proxies={"https": bad}) as rt:
            with pytest.raises(TransportError, match="407") as caught:
                await _echo(rt, b"refused")
    assert not caught.value.request_sent
    assert server.streams_opened == 1  # only the authorised session reached the endpoint
    texts = [shown, caplog.text]
    seen: BaseException | None = caught.value
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    for text in texts:
        for secret in (PASSWORD, QUOTED_PASSWORD, "p@ss", "wrong-"):
            assert secret not in text


async def test_a_proxy_that_cannot_reach_the_endpoint_is_a_typed_error(
    server: FakeBidiServer, ca_file: Path, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy answers 502 (nothing listens there): a TransportError, nothing sent."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url="https://localhost:1",
        credentials=TEST_CREDENTIALS,
        verify=str(ca_file),
        retry=False,
    ) as rt:
        with pytest.raises(TransportError, match="502") as caught:
            await _echo(rt, b"nowhere")
    assert not caught.value.request_sent


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _https_proxy_context(proxy_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    proxy_ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.mark.parametrize("trust", ["proxy_ca_bundle", "endpoint_ca"])
async def test_a_session_through_an_https_proxy(
    server: FakeBidiServer,
    ca_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trust: str,
) -> None:
    """An ``https://`` proxy: TLS to the proxy (verified by ``proxies_config``'s
    proxy_ca_bundle, or, without it, as the endpoint is), CONNECT inside it, then TLS with ALPN
    h2 to the endpoint inside that, verified with verify= — three layers, each hop by its CA."""
    proxy_ca = trustme.CA()
    options: dict[str, object] = {}
    if trust == "proxy_ca_bundle":
        bundle = _write_pem(tmp_path / "proxy-ca.pem", proxy_ca.cert_pem.bytes())
        options["proxies_config"] = {"proxy_ca_bundle": str(bundle)}
    else:  # one bundle holding both CAs, given as verify=
        pems = ca_file.read_text() + proxy_ca.cert_pem.bytes().decode()  # noqa: ASYNC240 - tiny
        ca_file = _write_pem(tmp_path / "both.pem", pems.encode())
    with ConnectProxy(ssl_context=_https_proxy_context(proxy_ca)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with _client(server, ca_file, **options) as rt:
            assert await _echo(rt, b"tls in tls") == [b"tls in tls"]
    assert proxy.url.startswith("https://") and proxy.handshake_failures == 0
    assert proxy.connects == [(f"localhost:{server.port}", None)]


async def test_an_https_proxy_not_trusted_is_a_typed_error(
    server: FakeBidiServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy whose certificate no trusted CA signed: a TransportError before anything
    reached the endpoint, no tunnel opened."""
    with ConnectProxy(ssl_context=_https_proxy_context(trustme.CA())) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with _client(server, ca_file) as rt:
            with pytest.raises(TransportError):
                await _echo(rt, b"never")
    assert proxy.connects == []
    assert server.total_connections == 0
