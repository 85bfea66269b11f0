"""The HTTP engines: our small interface and its implementations (STYLE.md §1).

An engine sends one request exactly as given (method, an already-encoded URL, the headers in
order, the body) and hands back the status, the head and the body as a series of reads.
Nothing above this package knows which engine runs:

- ``aiohttp_engine``: aiohttp's pool, driven directly; the default on asyncio.
- ``httpx_engine``: an ``httpx.AsyncClient`` (ours, or one lent to us, from httpx or httpx2);
  the default on trio, and the one for HTTP/2 request/response.
- the test kit's ``FakeTransport``: the fake service, in-process.

Each engine translates its library's exceptions into ours in one function of its own module;
deadlines are enforced above, by the exchange (``_exchange``), the same way for every engine.
"""

from .base import Engine, EngineResponse, Progress, TransportName
from .factory import make_engine

__all__ = ["Engine", "EngineResponse", "Progress", "TransportName", "make_engine"]
