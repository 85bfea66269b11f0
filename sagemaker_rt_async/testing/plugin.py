"""pytest plugin of sagemaker-rt-async (registered through the ``pytest11`` entry point).

Installing the library makes these fixtures available in every test suite; nothing runs unless
a test asks for one of them (there is no autouse fixture and no hook that changes other tests):

- ``sagemaker_fake``: a fresh ``FakeSageMakerRuntime`` per test (register endpoints on it, read
  ``.requests``);
- ``sagemaker_server``: that fake served on 127.0.0.1 (a ``LoopbackServer``; ``.url``), for boto3,
  other processes or any HTTP client;
- ``sagemaker_client``: a ``SageMakerRuntimeClient`` answered by the fake in-process (async tests);
- ``sagemaker_loopback_client``: a ``SageMakerRuntimeClient`` calling ``sagemaker_server.url`` over
  a real socket (async tests);
- ``sagemaker_bidi_server`` / ``sagemaker_bidi_tls_server``: a ``FakeBidiServer`` (HTTP/2, h2c or
  TLS with a trustme CA) serving bidirectional-stream endpoints (``echo``, ``transcriber``, ...);
  point a client at ``.url`` (with ``ssl_context=server.client_ssl_context()`` for TLS).

``@pytest.mark.sagemaker_fake(verify_signatures=False, region=...)`` passes keyword options to
the fake's constructor.

How the clients work under both pytest-asyncio and anyio: the two client fixtures are *sync*
fixtures. ``FakeSageMakerRuntime.client()`` needs no running event loop (the loopback client
opens its connection pool lazily, inside the test's loop, on its first call), so the client is
built in plain pytest code. Only closing it needs the test's event loop; for that each client
fixture asks for a small private async fixture that closes the clients at teardown, chosen by
how the test runs:

- a test run by anyio's plugin (``@pytest.mark.anyio``, or any test using ``anyio_backend``,
  on asyncio or trio) gets a plain async fixture, which anyio runs in the test's own loop;
- a test run by pytest-asyncio (``@pytest.mark.asyncio``, strict or auto mode) gets a
  ``pytest_asyncio.fixture`` with the test's loop scope, so it runs in the test's loop.

Any other test asking for a client fails with a message saying which marker to add.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .._client import SageMakerRuntimeClient
    from ._bidi import FakeBidiServer
    from ._fake import FakeSageMakerRuntime
    from ._server import LoopbackServer

_MARKER = "sagemaker_fake"
_ANYIO_CLOSER = "_sagemaker_aclose_anyio"
_ASYNCIO_CLOSER = "_sagemaker_aclose_asyncio_{}"
_LOOP_SCOPES = ("function", "class", "module", "package", "session")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sagemaker_fake`` marker (so ``--strict-markers`` suites accept it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): keyword options for the sagemaker_fake fixture's "
        "FakeSageMakerRuntime, e.g. verify_signatures=False or region='eu-west-1'.",
    )


@pytest.fixture
def sagemaker_fake(request: pytest.FixtureRequest) -> FakeSageMakerRuntime:
    """A fresh ``FakeSageMakerRuntime`` for this test (no endpoints yet).

    Register endpoints with ``sagemaker_fake.add_endpoint(name, handler)`` or the
    ``@sagemaker_fake.endpoint(name)`` decorator; ``sagemaker_fake.requests`` records every
    request. ``@pytest.mark.sagemaker_fake(verify_signatures=False)`` (or any other keyword of
    the constructor) configures it.
    """
    from ._fake import FakeSageMakerRuntime

    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            pytest.fail(
                f"@pytest.mark.{_MARKER} takes keyword options only, "
                f"e.g. @pytest.mark.{_MARKER}(verify_signatures=False); got {marker.args!r}",
                pytrace=False,
            )
        options = dict(marker.kwargs)
    try:
        return FakeSageMakerRuntime(**options)
    except TypeError as exc:
        pytest.fail(f"@pytest.mark.{_MARKER}: {exc}", pytrace=False)


@pytest.fixture
def sagemaker_bidi_server() -> Iterator[FakeBidiServer]:
    """A fake InvokeEndpointWithBidirectionalStream service over cleartext HTTP/2 (h2c) on
    127.0.0.1, in a background thread; stopped after the test."""
    from ._bidi import FakeBidiServer

    with FakeBidiServer() as server:
        yield server


@pytest.fixture
def sagemaker_bidi_tls_server() -> Iterator[FakeBidiServer]:
    """The same over TLS (ALPN h2) with a certificate of a fresh trustme CA; clients trust it
    with ``ssl_context=server.client_ssl_context()``."""
    from ._bidi import FakeBidiServer

    with FakeBidiServer(tls=True) as server:
        yield server


@pytest.fixture
def sagemaker_server(
    sagemaker_fake: FakeSageMakerRuntime,
) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """``sagemaker_fake`` served over HTTP/1.1 on 127.0.0.1 for the test (``.url``).

    The server runs in a background thread, so sync code (boto3, ``requests``) and async code
    on any event loop can call it. It is stopped, and its connections closed, after the test.
    """
    with sagemaker_fake.serve() as server:
        yield server


@pytest.fixture
def sagemaker_client(
    sagemaker_fake: FakeSageMakerRuntime, request: pytest.FixtureRequest
) -> SageMakerRuntimeClient:
    """An in-process ``SageMakerRuntimeClient`` bound to ``sagemaker_fake``, closed after the test.

    For async tests run by anyio (``@pytest.mark.anyio``, asyncio or trio) or by pytest-asyncio
    (``@pytest.mark.asyncio``). It signs with the fake's credentials and region, and also reaches
    the fake's in-memory S3 (async inference).
    """
    closer = _closer(request, "sagemaker_client")
    client = sagemaker_fake.client()
    closer.push_async_callback(client.aclose)
    return client


@pytest.fixture
def sagemaker_loopback_client(
    sagemaker_fake: FakeSageMakerRuntime,
    sagemaker_server: LoopbackServer[FakeSageMakerRuntime],
    request: pytest.FixtureRequest,
) -> SageMakerRuntimeClient:
    """A ``SageMakerRuntimeClient`` calling ``sagemaker_server`` over a real socket.

    Same as ``sagemaker_client`` but through the client's real HTTP engine (aiohttp on asyncio,
    httpx on trio): use it to test connection-level behaviour (resets, timeouts, pooling). Its
    connection pool is opened in the test's event loop and closed after the test.
    """
    closer = _closer(request, "sagemaker_loopback_client")
    client = sagemaker_fake.client(endpoint_url=sagemaker_server.url)
    closer.push_async_callback(client.aclose)
    return client


def _closer(request: pytest.FixtureRequest, fixture: str) -> AsyncExitStack:
    """The private async fixture that closes clients at teardown, in the test's event loop."""
    if "anyio_backend" in request.fixturenames:  # run by anyio's plugin (asyncio or trio)
        if _asyncio_auto_mode(request.config):
            # pytest-asyncio's auto mode runs every async fixture in its own event loop, ours
            # included, not in the loop anyio runs the test in: the client would be closed there.
            pytest.fail(
                f"the {fixture} fixture cannot serve an anyio test while pytest-asyncio runs in "
                "auto mode (it runs every async fixture in its own event loop): set "
                "asyncio_mode = strict, or let pytest-asyncio run the test (no anyio marker)",
                pytrace=False,
            )
        stack: AsyncExitStack = request.getfixturevalue(_ANYIO_CLOSER)
        return stack
    marker = request.node.get_closest_marker("asyncio")
    if marker is not None and request.config.pluginmanager.has_plugin("asyncio"):
        scope = _asyncio_loop_scope(marker, request.config)
        stack = request.getfixturevalue(_ASYNCIO_CLOSER.format(scope))
        return stack
    pytest.fail(
        f"the {fixture} fixture is for async tests: mark the test @pytest.mark.anyio "
        "(anyio's plugin) or @pytest.mark.asyncio (pytest-asyncio). Sync tests can call "
        "sagemaker_server.url with any client (boto3, ...).",
        pytrace=False,
    )


def _asyncio_auto_mode(config: pytest.Config) -> bool:
    """Whether pytest-asyncio is active in auto mode (it then claims every async fixture)."""
    if not config.pluginmanager.has_plugin("asyncio"):
        return False
    try:
        mode = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode")
    except ValueError:
        return False
    return bool(mode == "auto")


def _asyncio_loop_scope(marker: pytest.Mark, config: pytest.Config) -> str:
    """The loop scope pytest-asyncio runs this test in (so the closer runs in the same loop)."""
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        try:
            scope = config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # a pytest-asyncio without that option: always function-scoped
            scope = None
    scope = scope or "function"
    if scope not in _LOOP_SCOPES:
        pytest.fail(f"unknown pytest-asyncio loop scope {scope!r}", pytrace=False)
    return str(scope)


@pytest.fixture(name=_ANYIO_CLOSER)
async def _aclose_anyio() -> AsyncIterator[AsyncExitStack]:
    """Closes the sagemaker clients of an anyio test (run by anyio in the test's loop)."""
    async with AsyncExitStack() as stack:
        yield stack


def _asyncio_closer(loop_scope: Any) -> Any:
    """The pytest-asyncio twin of ``_aclose_anyio`` for one loop scope."""
    import pytest_asyncio

    async def closer() -> AsyncIterator[AsyncExitStack]:
        """Closes the sagemaker clients of a pytest-asyncio test, in the test's loop."""
        async with AsyncExitStack() as stack:
            yield stack

    return pytest_asyncio.fixture(
        closer, name=_ASYNCIO_CLOSER.format(loop_scope), loop_scope=loop_scope
    )


if importlib.util.find_spec("pytest_asyncio") is not None:
    # One per loop scope, since a pytest-asyncio fixture's loop scope is fixed when it is defined.
    _aclose_asyncio_function = _asyncio_closer("function")
    _aclose_asyncio_class = _asyncio_closer("class")
    _aclose_asyncio_module = _asyncio_closer("module")
    _aclose_asyncio_package = _asyncio_closer("package")
    _aclose_asyncio_session = _asyncio_closer("session")
