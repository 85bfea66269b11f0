"""The ``sagemaker_rt_async`` logger: one DEBUG line per attempt, and never a secret."""

from __future__ import annotations

import logging
import re

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ServiceFailure

pytestmark = pytest.mark.anyio

SECRET = sm.Credentials("AKIDLOGTEST000000001", "log-secret-never-shown", "log-token-never-shown")
LINE = re.compile(
    r"^InvokeEndpoint /endpoints/flaky/invocations host=127\.0\.0\.1:\d+ "
    r"attempt=(\d); max=3 status=(\d+) request_id=([0-9a-f-]{36}) head_ms=\d+\.\d$"
)


async def test_one_debug_line_per_attempt(caplog: pytest.LogCaptureFixture, transport: str) -> None:
    """A call answered 503 then 200: two lines, each naming the operation and endpoint, the
    host, the attempt, the status, the request id and the time to the head; no secret."""
    fake = FakeSageMakerRuntime(credentials=SECRET)
    calls: list[int] = []

    def flaky(invocation: Invocation) -> bytes:
        calls.append(1)
        if len(calls) == 1:
            raise ServiceFailure(503, "ServiceUnavailable", "busy")
        return b"ok"

    fake.add_endpoint("flaky", flaky)
    caplog.set_level(logging.DEBUG, logger="sagemaker_rt_async")
    with fake.serve() as server:
        async with fake.client(
            endpoint_url=server.url, transport=transport, retry=sm.Retry(max_backoff=0.01)
        ) as rt:
            assert (await rt.invoke_endpoint("flaky", b"x")).body == b"ok"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("InvokeEndpoint ")]
    attempts = [LINE.match(line) for line in lines]
    assert all(attempts), lines
    assert [(m.group(1), m.group(2)) for m in attempts if m] == [("1", "503"), ("2", "200")]
    text = caplog.text
    for secret in (SECRET.secret_access_key, SECRET.session_token or "", "Signature="):
        assert secret not in text
