"""Answer requests mocked by respx from a fake (respx stays an optional dependency).

For applications that make their own ``httpx.AsyncClient`` (lent to ``SageMakerRuntimeClient``
through ``http_client=``) and mock HTTP with respx: one route sends every request for the
SageMaker Runtime host to the fake, so the rest of the app's respx mocks stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ._transport import FakeService, FakeTransport

if TYPE_CHECKING:
    import respx

__all__ = ["route_to_fake"]

DEFAULT_BASE_URL = "https://runtime.sagemaker.us-east-1.amazonaws.com"
"""Where ``SageMakerRuntimeClient(region="us-east-1")`` sends its requests."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _require_respx() -> Any:
    try:
        import respx
    except ImportError as exc:  # the library does not depend on respx
        raise ModuleNotFoundError(
            "route_to_fake() needs respx, which is not installed: pip install respx",
            name="respx",
        ) from exc
    return respx


def route_to_fake(
    router: respx.Router | respx.MockRouter,
    fake: FakeService,
    *,
    base_url: str = DEFAULT_BASE_URL,
) -> respx.Route:
    """Make ``router`` answer every request to ``base_url`` from ``fake``; returns the route.

    ``router`` is a respx router (``respx.mock``, the ``respx_mock`` fixture, a
    ``respx.MockRouter`` or ``respx.Router``); ``fake`` is a ``FakeSageMakerRuntime`` (or
    ``FakeS3``). ``base_url`` is the origin the client calls (``scheme://host[:port]``, no
    path): the default is the us-east-1 endpoint; use the client's ``endpoint_url`` for another
    region. For async inference, also route each bucket's S3 origin (the same fake answers S3:
    ``base_url="https://BUCKET.s3.REGION.amazonaws.com"``).

    The fake answers exactly as it does in-process (``fake.transport()``): signatures are
    verified, every request is recorded in ``fake.requests`` (and in ``route.calls``), and
    response streams are not buffered, so PayloadParts, stream faults and resets reach the
    client one by one. respx mocks ``httpx.AsyncClient``'s own transport: lend the client an
    ``httpx.AsyncClient()`` through ``http_client=`` (the default aiohttp engine is not seen by
    respx). Only async httpx clients are supported (the fake is async).
    """
    respx_module = _require_respx()
    if not isinstance(router, respx_module.Router):
        raise TypeError(f"router must be a respx router (e.g. respx.mock), not {router!r}")
    url = httpx.URL(base_url)
    if url.scheme not in _DEFAULT_PORTS or not url.host:
        raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
    if url.raw_path not in (b"", b"/") or url.query or url.fragment:
        raise ValueError(
            f"base_url must be an origin (scheme://host[:port]) without a path: {base_url!r}"
        )
    transport = FakeTransport(fake)

    async def answer(request: httpx.Request) -> httpx.Response:
        # The same code path as the in-process transport, including its unbuffered stream
        # and the httpx errors a reset connection raises.
        return await transport.handle_async_request(request)

    route: respx.Route = router.route(
        scheme=url.scheme, host=url.host, port=url.port or _DEFAULT_PORTS[url.scheme]
    )
    route.side_effect = answer
    return route
