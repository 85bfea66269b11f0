"""Proxies and TLS on both engines, for SageMaker Runtime and S3, with real pieces on loopback.

The fake serves HTTPS with a certificate from a ``trustme`` test CA; ``_proxy.ConnectProxy`` is
a CONNECT proxy in front of it that records every tunnel. The environment (HTTPS_PROXY,
NO_PROXY, AWS_CA_BUNDLE) is read as botocore reads it: the rule itself is compared with
botocore's over a table of environments, and the engines are shown to follow it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from _proxy import ConnectProxy

import sagemaker_rt_async as sm
from sagemaker_rt_async._config import ProxyRule, environ_proxies
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, LoopbackServer

pytestmark = pytest.mark.anyio

OUT = "s3://results/async/out"
PASSWORD = "p@ss w0rd:secret"
QUOTED_PASSWORD = "p%40ss%20w0rd%3Asecret"

_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA's certificate as a PEM file (a CA bundle)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake (SageMaker Runtime and S3) over HTTPS, certificate for localhost and 127.0.0.1."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo")

    def model(invocation: Invocation) -> bytes:
        return invocation.body

    fake.add_endpoint("async-ep", model, async_output_path=OUT, processing_time=0.02)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with fake.serve(ssl_context=context) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(_PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    """A CONNECT proxy on loopback recording its tunnels."""
    with ConnectProxy() as running:
        yield running


def _client(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str, host: str = "localhost", **kw: Any
) -> sm.SageMakerRuntimeClient:
    url = f"https://{host}:{server.port}"
    kw.setdefault("s3_endpoint_url", url)
    return sm.SageMakerRuntimeClient(
        region="us-east-1",
        credentials=server.fake.credentials,
        endpoint_url=url,
        transport=transport,  # type: ignore[arg-type]
        retry=False,
        **kw,
    )


async def test_https_goes_through_the_environment_proxy(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy: ConnectProxy,
    ca_file: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY: the request is tunnelled (CONNECT localhost:port), TLS verified against
    AWS_CA_BUNDLE end to end, the answer arrives."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_file))
    async with _client(tls_server, transport) as rt:
        assert rt.config.proxies == {"https": proxy.url}
        assert rt.config.source("proxies") == "env HTTPS_PROXY"
        assert rt.config.source("ca_bundle") == "env AWS_CA_BUNDLE"
        result = await rt.invoke_endpoint("echo", b"through the proxy")
    assert result.body == b"through the proxy"
    assert proxy.connects == [(f"localhost:{tls_server.port}", None)]


@pytest.mark.parametrize(
    "no_proxy", ["localhost", ".localhost", "*", "example.com, LOCALHOST", "localhost:{port}"]
)
async def test_no_proxy_bypasses_the_proxy(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy: ConnectProxy,
    ca_file: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    """NO_PROXY (a host, a leading-dot suffix, ``*``, a list in any case, host:port): direct."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=tls_server.port))
    async with _client(tls_server, transport, verify=str(ca_file)) as rt:
        assert (await rt.invoke_endpoint("echo", b"direct")).body == b"direct"
    assert proxy.connects == []


async def test_no_proxy_is_decided_per_host_for_sagemaker_and_s3(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy: ConnectProxy,
    ca_file: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SageMaker at localhost goes through the proxy; S3 at 127.0.0.1 (in NO_PROXY) does not:
    an async job's upload, submission and polls each take their own way."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    s3_url = f"https://127.0.0.1:{tls_server.port}"
    async with _client(tls_server, transport, verify=str(ca_file), s3_endpoint_url=s3_url) as rt:
        job = await rt.invoke_endpoint_async(
            "async-ep", body=b"x" * 200_000, upload_to="s3://inputs/staging/"
        )
        result = await job.result(timeout=10, poll_interval=0.02)
    assert result.body == b"x" * 200_000
    assert {target for target, _ in proxy.connects} == {f"localhost:{tls_server.port}"}


async def test_s3_goes_through_the_proxy_too(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy: ConnectProxy,
    ca_file: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without NO_PROXY, the S3 requests of an async job are tunnelled as well."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    s3_url = f"https://127.0.0.1:{tls_server.port}"
    async with _client(tls_server, transport, verify=str(ca_file), s3_endpoint_url=s3_url) as rt:
        await rt.upload_input("s3://inputs/direct.json", b"{}")
    assert {target for target, _ in proxy.connects} == {f"127.0.0.1:{tls_server.port}"}


async def test_proxies_argument_with_credentials_never_shows_them(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    ca_file: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """proxies={"https": "http://user:pass@..."}: Basic Proxy-Authorization on the CONNECT;
    the password in no repr, config, log line or exception (a wrong one is refused)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NO_PROXY", "*")  # an argument ignores the environment, as botocore
    with ConnectProxy(credentials=("user", PASSWORD)) as proxy:
        good = f"http://user:{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(
            tls_server, transport, verify=str(ca_file), proxies={"https": good}
        ) as rt:
            shown = repr(rt) + repr(rt.config) + repr(rt.config.proxy_rule)
            assert (await rt.invoke_endpoint("echo", b"ok")).body == b"ok"
        assert len(proxy.connects) == 1
        assert proxy.connects[0][1] is not None and proxy.connects[0][1].startswith("Basic ")
        bad = f"http://user:wrong-{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(
            tls_server, transport, verify=str(ca_file), proxies={"https": bad}
        ) as rt:
            with pytest.raises(sm.TransportError, match="407") as info:
                await rt.invoke_endpoint("echo", b"refused")
    texts = [shown, caplog.text]
    seen: BaseException | None = info.value
    while seen is not None:  # ours, and the engine's exceptions chained to it
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    assert "***@127.0.0.1" in shown
    for text in texts:
        for secret in (PASSWORD, QUOTED_PASSWORD, "p@ss"):
            assert secret not in text


async def test_verify_false_and_ssl_context(
    tls_server: LoopbackServer[FakeSageMakerRuntime], ca: trustme.CA, transport: str
) -> None:
    """verify=False skips verification; an ssl.SSLContext is used as given and is what
    ssl_context() returns; without either the test CA is not trusted."""
    async with _client(tls_server, transport, verify=False) as rt:
        assert (await rt.invoke_endpoint("echo", b"a")).body == b"a"
        assert rt.config.verify is False
        assert (await rt.ssl_context()).verify_mode == ssl.CERT_NONE
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with _client(tls_server, transport, verify=context) as rt:
        assert await rt.ssl_context() is context
        assert (await rt.invoke_endpoint("echo", b"b")).body == b"b"
    async with _client(tls_server, transport) as rt:
        with pytest.raises(sm.TransportError, match=r"(?i)certif"):
            await rt.invoke_endpoint("echo", b"c")


async def test_ca_bundle_from_the_profile(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    ca_file: Path,
    transport: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ca_bundle`` in the shared config file is trusted, and the context shows it."""
    config = tmp_path / "config"
    config.write_text(f"[default]\nca_bundle = {ca_file}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    async with _client(tls_server, transport) as rt:
        assert rt.config.ca_bundle == str(ca_file)
        assert (await rt.invoke_endpoint("echo", b"d")).body == b"d"
        assert (await rt.ssl_context()).cert_store_stats()["x509_ca"] >= 1


def test_a_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    """A CA bundle path that does not exist: ParamValidationError naming it, not an SSL trace."""
    from sagemaker_rt_async._config import build_ssl_context

    with pytest.raises(sm.ParamValidationError, match=r"nowhere\.pem") as info:
        build_ssl_context(str(tmp_path / "nowhere.pem"), None)
    assert info.value.param == "verify"


def test_verify_and_proxies_do_not_apply_to_a_lent_client() -> None:
    """A lent http_client keeps its own TLS and proxy settings: passing ours is refused."""
    import httpx

    with pytest.raises(sm.ParamValidationError) as info:
        sm.SageMakerRuntimeClient(region="us-east-1", http_client=httpx.AsyncClient(), verify=False)
    assert info.value.param == "verify"


# -- an https:// proxy: TLS to the proxy, CONNECT inside it, TLS to the server inside that ---------


@pytest.fixture(scope="module")
def proxy_ca() -> trustme.CA:
    """Another CA, for the proxy's own certificate (and the client certificate shown to it)."""
    return trustme.CA()


@pytest.fixture(scope="module")
def proxy_ca_file(proxy_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The proxy CA's certificate as a PEM file: what ``proxy_ca_bundle`` names."""
    path = tmp_path_factory.mktemp("proxy-ca") / "proxy-ca.pem"
    proxy_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_transport(transport: str) -> str:
    """Each engine that can send HTTPS through an https:// proxy on this Python: aiohttp needs
    asyncio's TLS inside TLS without CPython gh-113214 (3.11.8+, 3.12.2+); where it cannot, the
    refusal is what ``test_aiohttp_without_tls_in_tls_*`` tests instead."""
    from sagemaker_rt_async._engines.aiohttp_engine import tls_in_tls_supported

    if transport == "aiohttp" and not tls_in_tls_supported():
        pytest.skip("asyncio on this Python cannot do TLS inside TLS safely (gh-113214)")
    return transport


def _proxy_tls(proxy_ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    proxy_ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:  # asks for a client certificate, accepts one of client_ca's
        context.verify_mode = ssl.CERT_OPTIONAL
        client_ca.configure_trust(context)
    return context


async def test_https_proxy_with_its_own_ca_bundle(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy_ca: trustme.CA,
    proxy_ca_file: Path,
    ca_file: Path,
    tls_transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY=https://...: TLS to the proxy verified with proxies_config's
    proxy_ca_bundle, CONNECT inside it, then TLS to the server verified with verify= (each CA
    trusted for its own hop only); SageMaker and S3 both go through it."""
    with ConnectProxy(ssl_context=_proxy_tls(proxy_ca)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        s3_url = f"https://127.0.0.1:{tls_server.port}"
        async with _client(
            tls_server,
            tls_transport,
            verify=str(ca_file),
            s3_endpoint_url=s3_url,
            proxies_config={"proxy_ca_bundle": str(proxy_ca_file)},
        ) as rt:
            assert rt.config.proxy_ca_bundle == str(proxy_ca_file)
            assert rt.config.source("proxies_config") == "argument"
            assert (await rt.invoke_endpoint("echo", b"tls in tls")).body == b"tls in tls"
            await rt.upload_input("s3://inputs/via-https-proxy.json", b"{}")
    assert proxy.url.startswith("https://") and proxy.handshake_failures == 0
    assert [target for target, _ in proxy.connects] == [
        f"localhost:{tls_server.port}",
        f"127.0.0.1:{tls_server.port}",
    ]


@pytest.mark.parametrize("wrong", ["proxy-not-trusted", "server-not-trusted"])
async def test_https_proxy_each_hop_is_verified(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy_ca: trustme.CA,
    proxy_ca_file: Path,
    ca_file: Path,
    tls_transport: str,
    wrong: str,
) -> None:
    """The proxy's certificate is checked against proxy_ca_bundle alone (the server's CA does
    not vouch for it), and the server's against verify= alone (the proxy's CA does not vouch
    for it): either mismatch is a TransportError naming the certificate, nothing answered."""
    with ConnectProxy(ssl_context=_proxy_tls(proxy_ca)) as proxy:
        bundle = str(ca_file) if wrong == "proxy-not-trusted" else str(proxy_ca_file)
        verify = str(proxy_ca_file) if wrong == "server-not-trusted" else str(ca_file)
        async with _client(
            tls_server,
            tls_transport,
            verify=verify,
            proxies={"https": proxy.url},
            proxies_config={"proxy_ca_bundle": bundle},
        ) as rt:
            with pytest.raises(sm.TransportError, match=r"(?i)certif"):
                await rt.invoke_endpoint("echo", b"refused")
    if wrong == "proxy-not-trusted":
        assert proxy.connects == [] and proxy.handshake_failures >= 1
    else:  # the tunnel opened; the server's certificate was refused inside it
        assert [target for target, _ in proxy.connects] == [f"localhost:{tls_server.port}"]


async def test_https_proxy_without_proxy_ca_bundle_is_verified_as_the_endpoint(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    ca: trustme.CA,
    ca_file: Path,
    tls_transport: str,
) -> None:
    """No proxies_config: the proxy's certificate is checked with the endpoint's CAs (verify=,
    AWS_CA_BUNDLE, ca_bundle), as urllib3 does for botocore."""
    with ConnectProxy(ssl_context=_proxy_tls(ca)) as proxy:
        async with _client(
            tls_server, tls_transport, verify=str(ca_file), proxies={"https": proxy.url}
        ) as rt:
            assert (await rt.invoke_endpoint("echo", b"one CA")).body == b"one CA"
    assert len(proxy.connects) == 1


async def test_https_proxy_client_cert_and_credentials_never_shown(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy_ca: trustme.CA,
    proxy_ca_file: Path,
    ca_file: Path,
    tls_transport: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """proxy_client_cert is shown to the proxy; user:password in the https:// proxy URL
    becomes the CONNECT's Proxy-Authorization (inside TLS) and shows in no repr, config, log
    line or exception (a wrong password is a 407 TransportError)."""
    caplog.set_level(logging.DEBUG)
    client_cert = tmp_path / "client.pem"
    proxy_ca.issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(
        str(client_cert)
    )
    tls = _proxy_tls(proxy_ca, client_ca=proxy_ca)
    settings: dict[str, Any] = {
        "proxy_ca_bundle": str(proxy_ca_file),
        "proxy_client_cert": str(client_cert),
    }
    with ConnectProxy(credentials=("user", PASSWORD), ssl_context=tls) as proxy:
        good = f"https://user:{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(
            tls_server,
            tls_transport,
            verify=str(ca_file),
            proxies={"https": good},
            proxies_config=settings,
        ) as rt:
            shown = repr(rt) + repr(rt.config) + repr(rt.config.proxy_rule)
            assert (await rt.invoke_endpoint("echo", b"ok")).body == b"ok"
        bad = f"https://user:wrong-{QUOTED_PASSWORD}@127.0.0.1:{proxy.port}"
        async with _client(
            tls_server,
            tls_transport,
            verify=str(ca_file),
            proxies={"https": bad},
            proxies_config=settings,
        ) as rt:
            with pytest.raises(sm.TransportError, match="407") as info:
                await rt.invoke_endpoint("echo", b"refused")
    assert proxy.client_certs and all(cert is not None for cert in proxy.client_certs)
    assert proxy.connects[0][1] is not None and proxy.connects[0][1].startswith("Basic ")
    texts = [shown, caplog.text]
    seen: BaseException | None = info.value
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    assert "***@127.0.0.1" in shown
    for text in texts:
        for secret in (PASSWORD, QUOTED_PASSWORD, "p@ss"):
            assert secret not in text


async def test_aiohttp_without_tls_in_tls_refuses_before_sending(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy_ca: trustme.CA,
    proxy_ca_file: Path,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    anyio_backend: str,
) -> None:
    """Where asyncio cannot start TLS inside TLS (Python 3.10), an HTTPS request through an
    https:// proxy on the aiohttp engine is a ParamValidationError before any byte is sent,
    naming the way out; the proxy sees no connection."""
    if anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    from sagemaker_rt_async._engines import aiohttp_engine

    monkeypatch.setattr(aiohttp_engine, "_TLS_IN_TLS", False)
    with ConnectProxy(ssl_context=_proxy_tls(proxy_ca)) as proxy:
        async with _client(
            tls_server,
            "aiohttp",
            verify=str(ca_file),
            proxies={"https": proxy.url},
            proxies_config={"proxy_ca_bundle": str(proxy_ca_file)},
        ) as rt:
            with pytest.raises(sm.ParamValidationError, match="transport='httpx'") as info:
                await rt.invoke_endpoint("echo", b"never sent")
    assert info.value.param == "proxies"
    assert proxy.connects == [] and proxy.client_certs == [] and proxy.handshake_failures == 0


async def test_aiohttp_left_to_choose_takes_httpx_without_tls_in_tls(
    tls_server: LoopbackServer[FakeSageMakerRuntime],
    proxy_ca: trustme.CA,
    proxy_ca_file: Path,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    anyio_backend: str,
) -> None:
    """A client left to pick its engine on asyncio, with an https:// proxy where aiohttp
    cannot tunnel TLS in TLS: it takes httpx and the request goes through."""
    if anyio_backend != "asyncio":
        pytest.skip("the default engine is httpx on trio anyway")
    from sagemaker_rt_async._engines import aiohttp_engine

    monkeypatch.setattr(aiohttp_engine, "_TLS_IN_TLS", False)
    with ConnectProxy(ssl_context=_proxy_tls(proxy_ca)) as proxy:
        url = f"https://localhost:{tls_server.port}"
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            credentials=tls_server.fake.credentials,
            endpoint_url=url,
            retry=False,
            verify=str(ca_file),
            proxies={"https": proxy.url},
            proxies_config={"proxy_ca_bundle": str(proxy_ca_file)},
        ) as rt:
            assert (await rt.invoke_endpoint("echo", b"via httpx")).body == b"via httpx"
            assert "HttpxEngine" in repr(rt._engine)
    assert len(proxy.connects) == 1


BAD_PROXIES_CONFIG: list[tuple[Any, str]] = [
    ({"proxy_use_forwarding_for_https": True}, "CONNECT tunnel"),
    ({"proxy_use_forwarding_for_https": "yes"}, "True or False"),
    ({"proxy_ca_bundel": "/x.pem"}, "unknown key 'proxy_ca_bundel'"),
    ({"proxy_ca_bundle": 3}, "file path"),
    ({"proxy_client_cert": ("a.pem",)}, r"\(cert, key\) pair"),
    (["proxy_ca_bundle"], "must be a dict"),
]


@pytest.mark.parametrize(("value", "message"), BAD_PROXIES_CONFIG)
def test_proxies_config_is_checked_at_construction(value: Any, message: str) -> None:
    """A proxies_config the client cannot honour is a ParamValidationError naming it, at
    construction: forwarding HTTPS through a proxy in clear is refused, not ignored."""
    with pytest.raises(sm.ParamValidationError, match=message) as info:
        sm.SageMakerRuntimeClient(
            region="us-east-1", credentials=("AKID", "secret"), proxies_config=value
        )
    assert info.value.param == "proxies_config"


async def test_a_missing_proxy_ca_bundle_is_a_clear_error(
    tls_server: LoopbackServer[FakeSageMakerRuntime], transport: str, tmp_path: Path
) -> None:
    """A proxy_ca_bundle that does not exist: ParamValidationError naming it (when the engine
    is built, as for verify=), no SSL trace."""
    async with _client(
        tls_server,
        transport,
        proxies={"https": "https://127.0.0.1:9"},
        proxies_config={"proxy_ca_bundle": str(tmp_path / "nowhere.pem")},
    ) as rt:
        with pytest.raises(sm.ParamValidationError, match=r"nowhere\.pem") as info:
            await rt.invoke_endpoint("echo", b"x")
    assert info.value.param == "proxies_config"


# -- the rule against botocore's ------------------------------------------------------------------

RULES = [
    ({}, "https://runtime.sagemaker.us-east-1.amazonaws.com"),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "https://runtime.sagemaker.us-east-1.amazonaws.com"),
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}, "https://a.example"),
    ({"HTTPS_PROXY": "proxy.corp:8080"}, "https://a.example"),  # no scheme: http://
    ({"HTTPS_PROXY": "//proxy.corp:8080"}, "https://a.example"),
    ({"HTTP_PROXY": "http://proxy:3128"}, "https://a.example"),  # only for http:// URLs
    ({"HTTP_PROXY": "http://proxy:3128"}, "http://localhost:8080"),
    ({"HTTP_PROXY": "http://proxy:3128", "REQUEST_METHOD": "GET"}, "http://localhost:8080"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://a.example"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "amazonaws.com"}, "https://s3.amazonaws.com"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".amazonaws.com"}, "https://s3.amazonaws.com"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "zonaws.com"}, "https://s3.amazonaws.com"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.example:443"}, "https://a.example:443"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.example:444"}, "https://a.example:443"),
    ({"HTTPS_PROXY": "http://p:1", "no_proxy": "", "NO_PROXY": "a.example"}, "https://a.example"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": " x.test , A.EXAMPLE "}, "https://a.example"),
    ({"HTTPS_PROXY": "http://u:p%40w@p:1"}, "https://a.example"),
    ({"HTTPS_PROXY": "http://u@p:1"}, "https://a.example"),  # a user alone: no auth header
    ({"HTTPS_PROXY": "https://p:1"}, "https://a.example"),
]


@pytest.mark.parametrize(("env", "url"), RULES)
def test_proxy_rule_matches_botocore(
    env: dict[str, str], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each environment and URL: the same proxy (or none) and the same Proxy-Authorization
    as botocore's get_environ_proxies + ProxyConfiguration."""
    import os

    from botocore.httpsession import ProxyConfiguration
    from botocore.utils import get_environ_proxies

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = ProxyConfiguration(proxies=get_environ_proxies(url))
    theirs_url = config.proxy_url_for(url)
    found = environ_proxies(os.environ)
    ours = ProxyRule(found, no_proxy=found.get("no"))(url)
    if theirs_url is None:
        assert ours is None
        return
    assert ours is not None
    from urllib.parse import urlsplit

    parts = urlsplit(theirs_url)
    assert ours.url == f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    assert ours.authorization == config.proxy_headers_for(theirs_url).get("Proxy-Authorization")
