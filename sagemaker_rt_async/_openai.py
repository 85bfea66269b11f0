"""The stock OpenAI SDK wired to an endpoint's OpenAI-compatible route (spec openai-compatible.md).

``async_openai(rt, "my-llm")`` returns an ``openai.AsyncOpenAI`` whose ``base_url`` is the
endpoint's (or inference component's) ``…/openai/v1`` and whose ``api_key`` is an async callable
the SDK calls before every request and every retry (openai 3.x takes one): it returns the
client's cached bearer token (``rt.bearer_token``), so a process that lives for days never sends
an expired token, and minting costs one HMAC chain when it is due.

A 401/403 answering one of our tokens marks the next request for a freshly minted token and asks
the SDK to retry once (its ``x-should-retry`` convention); a token minted fresh that is refused
again surfaces as the SDK's own ``AuthenticationError`` / ``PermissionDeniedError``.

A feature module (STYLE.md §1, layer 3): it depends on the small ``BearerTokenSource`` protocol
(the client has it), never on ``_client``; ``openai`` is imported when called, and its own
``httpx2`` classes are reached through it (only the engines import an HTTP library).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from ._bearer import BearerToken, check_lifetime
from ._models import Timeout

if TYPE_CHECKING:
    import httpx2
    import openai

__all__ = ["BearerTokenSource", "async_openai"]

_REFUSED = (401, 403)


class BearerTokenSource(Protocol):
    """What ``async_openai`` needs from a client: tokens, the route's URL and the deadlines."""

    async def bearer_token(
        self, *, expires_in: int | timedelta | None = None, refresh: bool = False
    ) -> BearerToken:
        """A cached ``sagemaker-api-key-…`` token (a new one with ``refresh``)."""
        ...

    async def openai_base_url(
        self, endpoint_name: str, *, inference_component_name: str | None = None
    ) -> str:
        """``…/endpoints/<name>[/inference-components/<ic>]/openai/v1``."""
        ...

    @property
    def timeout(self) -> Timeout:
        """The client's deadlines."""
        ...


class _Tokens:
    """The SDK's ``api_key`` callable, and the response hook that re-mints after a refusal."""

    def __init__(self, rt: BearerTokenSource, expires_in: int | None) -> None:
        self._rt = rt
        self._expires_in = expires_in
        self._refresh = False
        self._fresh: str | None = None  # the last token minted because one was refused

    async def __call__(self) -> str:
        refresh, self._refresh = self._refresh, False
        token = await self._rt.bearer_token(expires_in=self._expires_in, refresh=refresh)
        if refresh:
            self._fresh = str(token)
        return token

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code not in _REFUSED:
            return
        sent = response.request.headers.get("Authorization", "")
        if not sent.startswith("Bearer sagemaker-api-key-") or sent[7:] == self._fresh:
            return  # not ours, or already a fresh one: the refusal is the answer
        self._refresh = True
        # The SDK retries a response marked so, re-preparing the request (and so calling the
        # api_key callable again); without a delay, since nothing needs to cool down.
        response.headers["x-should-retry"] = "true"
        response.headers["retry-after-ms"] = "1"


def _timeout(value: Timeout) -> httpx2.Timeout:
    import openai  # its Timeout is httpx2's: no HTTP library imported here (STYLE.md §1)

    read = value.read  # httpx bounds every read alike: the head's wait may be the longer one
    if read is not None and value.first_byte is not None:
        read = max(read, value.first_byte)
    return openai.Timeout(connect=value.connect, read=read, write=value.write, pool=value.pool)


async def async_openai(
    rt: BearerTokenSource,
    endpoint_name: str,
    *,
    inference_component_name: str | None = None,
    expires_in: int | timedelta | None = None,
    max_retries: int = 2,
    http_client: httpx2.AsyncClient | None = None,
) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` for ``endpoint_name`` (or one of its inference components).

    Every request carries a current bearer token from ``rt``'s cache (``expires_in``: the
    tokens' lifetime, default the client's); a refused token is re-minted and the request
    retried once. Its HTTP client is an ``httpx2.AsyncClient`` set up as ours are — the system's
    CA certificates, no proxy or certificate settings taken from the environment, and
    ``rt.timeout``'s connect / read / write / pool deadlines — unless you pass ``http_client``
    (the SDK closes it with the client; token refresh after a 401 then waits for the next call).
    Send ``model=""`` unless your container wants a name (vLLM refuses the endpoint's). Only
    ``client.chat.completions`` is routed by SageMaker. Needs the ``openai`` extra.
    """
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
        raise ImportError(
            "sagemaker_rt_async.openai needs the OpenAI SDK: "
            "pip install 'sagemaker-rt-async[openai]'"
        ) from exc
    lifetime = None if expires_in is None else check_lifetime("expires_in", expires_in)
    base_url = await rt.openai_base_url(
        endpoint_name, inference_component_name=inference_component_name
    )
    tokens = _Tokens(rt, lifetime)
    if http_client is None:
        http_client = openai.DefaultAsyncHttpxClient(
            timeout=_timeout(rt.timeout),
            trust_env=False,  # as our engines: no proxy or CA bundle picked up from the env
            follow_redirects=False,
            event_hooks={"response": [tokens.on_response]},
        )
    return openai.AsyncOpenAI(
        api_key=tokens,
        base_url=base_url,
        max_retries=max_retries,
        http_client=http_client,
        timeout=http_client.timeout,
    )
