"""Secret keys, session tokens and signatures never reach a repr, str, log record or error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure, StreamFault

pytestmark = pytest.mark.anyio

SECRET = "SUPERSECRETKEY-abcdef-123456"
TOKEN = "SESSIONTOKEN-zyxwv-987654"
CREDS = sm.Credentials("AKIDSCAN000000000001", SECRET, TOKEN)


def _fake() -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime(credentials=CREDS)
    fake.add_endpoint("ok", async_output_path="s3://out/x", async_failure_path="s3://out/f")

    @fake.endpoint("bad")
    def bad(inv: Invocation) -> bytes:
        raise ModelFailure(500, "boom")

    @fake.endpoint("stream")
    async def stream(inv: Invocation) -> Any:
        yield b"a"
        yield StreamFault.corrupt_crc(b"b")

    return fake


async def test_nothing_captured_in_a_run_contains_a_secret(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """Every operation, success and failure, with DEBUG logging on for us and every engine."""
    caplog.set_level(logging.DEBUG)
    fake = _fake()
    seen: list[str] = []

    def keep(*objects: object) -> None:
        seen.extend(text for obj in objects for text in (repr(obj), str(obj)))

    async def expect_error(call: Any) -> None:
        try:
            await call()
        except sm.SageMakerRuntimeError as exc:
            keep(exc, exc.__cause__)
        else:
            raise AssertionError("expected an error")

    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            s3_endpoint_url=srv.url,
            credentials=CREDS,
            transport=transport,  # type: ignore[arg-type]
        ) as rt:
            keep(rt, CREDS, await rt.invoke_endpoint("ok", b"x"))
            await expect_error(lambda: rt.invoke_endpoint("bad", b"x"))
            await expect_error(lambda: rt.invoke_endpoint("ok", b"x", accept="a\r\nb"))

            async def consume() -> None:
                async with rt.invoke_endpoint_with_response_stream("stream", b"") as s:
                    keep(s)
                    async for _ in s:
                        pass

            await expect_error(consume)
            job = await rt.invoke_endpoint_async("ok", body=b"{}")
            keep(job, await job.result(timeout=10, poll_interval=0.02))
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            credentials=(CREDS.access_key_id, "wrong-" + SECRET, TOKEN),
            transport=transport,  # type: ignore[arg-type]
        ) as rt:
            await expect_error(lambda: rt.invoke_endpoint("ok", b"x"))
    keep(*fake.requests, *fake.s3.requests)
    blob = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert len(caplog.records) > 0  # the engines did log at DEBUG
    assert SECRET not in blob
    assert TOKEN not in blob
    leaked = [line for line in blob.splitlines() if "Signature=" in line]
    assert all("Signature=<hidden>" in line for line in leaked), leaked[:3]


async def test_bearer_tokens_never_show_outside_the_authorization_header(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """The OpenAI-compatible route: tokens minted, sent, refused and re-minted appear in no
    repr, str, log record, exception or hook event — only as ``sagemaker-api-key-***``."""
    import time

    from sagemaker_rt_async.testing import chat_model

    caplog.set_level(logging.DEBUG)
    fake = FakeSageMakerRuntime(credentials=CREDS)
    fake.add_endpoint("llm", chat_model())

    @fake.endpoint("echoes-auth")
    def echoes(inv: Invocation) -> bytes:  # a container that quotes the token back
        raise ModelFailure(400, f"bad header {inv.headers.get('authorization')}")

    seen: list[str] = []
    events: list[object] = []

    def keep(*objects: object) -> None:
        seen.extend(text for obj in objects for text in (repr(obj), str(obj)))

    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            credentials=CREDS,
            transport=transport,  # type: ignore[arg-type]
            event_hooks=[events.append],
        ) as rt:
            token = await rt.bearer_token()
            keep(
                rt,
                repr(token),
                await rt.chat_completions(
                    "llm", json={"messages": [{"role": "user", "content": "x"}]}
                ),
            )
            async with rt.chat_completions_stream(
                "llm", json={"messages": [{"role": "user", "content": "x"}]}
            ) as stream:
                keep(stream, [t async for t in stream.tokens()])
            for name in ("echoes-auth", "missing"):
                try:
                    await rt.chat_completions(name, json={"messages": []})
                except sm.SageMakerRuntimeError as exc:
                    keep(exc, exc.__cause__, getattr(exc, "body", b""))
            rt._clock = lambda: time.time() - 50_000  # expired tokens: 401, re-mint, 401
            keep(repr(await rt.bearer_token(refresh=True)))
            try:
                await rt.chat_completions("llm", json={"messages": []})
            except sm.AuthenticationError as exc:
                keep(exc, exc.body)
            else:
                raise AssertionError("expected an AuthenticationError")
            sent = {r.header("Authorization") for r in fake.requests}
    keep(*fake.requests, *events)
    blob = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert "sagemaker-api-key-***" in blob
    assert len(sent) >= 2
    for header in sent:  # the tail holds the signature: unique to each token
        assert header is not None
        assert header[-60:] not in blob
    assert str(token)[-60:] not in blob
    assert SECRET not in blob
