"""Credential sources, caching and refresh: one refresh for all callers, never a blocked loop."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._credentials import (
    ADVISORY_REFRESH_S,
    MANDATORY_REFRESH_S,
    CredentialResolver,
    DefaultChain,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Credential resolution must work on both backends (aiobotocore only runs on asyncio)."""
    return str(request.param)


class Clock:
    """A settable clock for expiry arithmetic."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _creds(key: str, expires_at: float | None) -> sm.Credentials:
    expiry = datetime.fromtimestamp(expires_at, timezone.utc) if expires_at else None
    return sm.Credentials(key, "secret-" + key, "token-" + key, expiry)


async def test_static_credentials_never_call_anything() -> None:
    """Explicit credentials are returned as they are."""
    creds = sm.Credentials("AKID", "SECRET")
    resolver = CredentialResolver.static(creds)
    assert await resolver.get() is creds
    assert resolver.refresh_count == 0


@pytest.mark.parametrize("window", ["advisory", "mandatory"])
async def test_refreshed_once_for_many_concurrent_callers(window: str) -> None:
    """500 callers arriving as credentials near expiry trigger exactly one provider call.

    In the advisory window nobody waits for it (the current credentials are still good, as
    botocore does); past the mandatory point everyone waits and gets the fresh ones.
    """
    clock = Clock()
    calls = 0

    async def provider() -> sm.Credentials:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)  # a slow STS call; callers pile up behind it
        return _creds(f"K{calls}", clock.now + 3600)

    resolver = CredentialResolver(provider, description="test", clock=clock)
    first = await resolver.get()
    assert first.access_key_id == "K1"
    margin = ADVISORY_REFRESH_S if window == "advisory" else MANDATORY_REFRESH_S
    clock.now += 3600 - margin + 1
    results: list[sm.Credentials] = []

    async def one() -> None:
        results.append(await resolver.get())

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(one)
    assert calls == 2
    if window == "mandatory":
        assert {c.access_key_id for c in results} == {"K2"}
    else:
        assert {c.access_key_id for c in results} == {"K1", "K2"}
        assert (await resolver.get()).access_key_id == "K2"
    # One 0.05 s refresh shared by all, not 500 in a row (25 s): a bound far from both, so a
    # loaded CI machine (500 tasks on a busy core) cannot fail it.
    assert anyio.current_time() - start < 5


async def test_a_failing_refresh_is_not_a_storm() -> None:
    """The provider fails inside the advisory window: 500 concurrent calls make one provider
    call (not 500 serial ones), all get the still-valid credentials, and the next attempt
    waits a backoff. Past the mandatory point, waiters share one failed attempt's error."""
    clock = Clock()
    calls = 0
    fail = False

    async def provider() -> sm.Credentials:
        nonlocal calls
        calls += 1
        if fail:
            await anyio.sleep(0.02)
            raise RuntimeError("sts is down")
        return _creds("OLD", clock.now + 3600)

    resolver = CredentialResolver(provider, description="test", clock=clock)
    await resolver.get()
    fail = True
    calls = 0
    clock.now += 3600 - ADVISORY_REFRESH_S + 1
    results: list[str] = []

    async def one() -> None:
        results.append((await resolver.get()).access_key_id)

    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(one)
    assert results == ["OLD"] * 500
    assert calls == 1
    for _ in range(50):  # within the backoff: no new attempt
        assert (await resolver.get()).access_key_id == "OLD"
    assert calls == 1
    clock.now += 1.5  # the backoff passed: one more attempt, then a longer backoff
    await resolver.get()
    clock.now += 1.5
    await resolver.get()
    assert calls == 2

    clock.now += ADVISORY_REFRESH_S - MANDATORY_REFRESH_S  # inside the mandatory window
    calls = 0
    errors: list[BaseException] = []

    async def must() -> None:
        try:
            await resolver.get()
        except sm.CredentialsError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(must)
    assert len(errors) == 100
    assert calls == 1


async def test_failed_advisory_refresh_keeps_valid_credentials() -> None:
    """A refresh that fails while the old credentials are still good keeps using them."""
    clock = Clock()
    fail = False

    async def provider() -> sm.Credentials:
        if fail:
            raise RuntimeError("sts is down")
        return _creds("OLD", clock.now + 3600)

    resolver = CredentialResolver(provider, description="test", clock=clock)
    await resolver.get()
    fail = True
    clock.now += 3600 - ADVISORY_REFRESH_S + 1
    assert (await resolver.get()).access_key_id == "OLD"
    clock.now += ADVISORY_REFRESH_S - MANDATORY_REFRESH_S  # now inside the mandatory window
    with pytest.raises(sm.CredentialsError, match="sts is down") as info:
        await resolver.get()
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_provider_timeout_is_credentials_error() -> None:
    """A provider that hangs is cut off and reported as CredentialsError."""

    async def provider() -> sm.Credentials:
        await anyio.sleep(10)
        raise AssertionError("unreachable")

    resolver = CredentialResolver(provider, description="slow provider", refresh_timeout=0.05)
    with pytest.raises(sm.CredentialsError, match="longer than"):
        await resolver.get()


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        ("not credentials", "expected Credentials"),
        (("AKID",), "expected Credentials"),
    ],
)
async def test_provider_returning_garbage(returned: object, match: str) -> None:
    """A provider returning the wrong type gives a CredentialsError, not an AttributeError."""

    async def provider() -> sm.Credentials:
        return returned  # type: ignore[return-value]

    with pytest.raises(sm.CredentialsError, match=match):
        await CredentialResolver(provider, description="p").get()


async def test_provider_returning_expired() -> None:
    """Credentials that are already expired are refused."""
    clock = Clock()

    async def provider() -> sm.Credentials:
        return _creds("X", clock.now - 1)

    with pytest.raises(sm.CredentialsError, match="already expired"):
        await CredentialResolver(provider, description="p", clock=clock).get()


async def test_provider_tuple_is_accepted() -> None:
    """An async provider may return a plain (key, secret, token) tuple."""

    async def provider() -> sm.Credentials:
        return ("AK", "SK", "TK")  # type: ignore[return-value]

    creds = await CredentialResolver(provider, description="p").get()
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == ("AK", "SK", "TK")


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated AWS config: no env credentials, files in tmp, no metadata service."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


async def test_default_chain_from_environment(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default chain finds environment variables."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOKENENV")
    creds = await DefaultChain(None)()
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIDENV",
        "SECRETENV",
        "TOKENENV",
    )


async def test_default_chain_from_profile(aws_home: Path) -> None:
    """A named profile in the shared credentials file is used, and its region read."""
    (aws_home / "credentials").write_text(
        "[team]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = SECRETPROFILE\n"
    )
    (aws_home / "config").write_text("[profile team]\nregion = eu-west-3\n")
    chain = DefaultChain("team")
    creds = await chain()
    assert creds.access_key_id == "AKIDPROFILE"
    assert await chain.region() == "eu-west-3"


async def test_default_chain_credential_process(aws_home: Path) -> None:
    """credential_process (temporary credentials with an expiry) flows through with the expiry."""
    expiry = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    script = aws_home / "proc.py"
    document = {
        "Version": 1,
        "AccessKeyId": "AKIDPROC",
        "SecretAccessKey": "SPROC",
        "SessionToken": "TPROC",
        "Expiration": expiry.isoformat(),
    }
    script.write_text(f"print({json.dumps(json.dumps(document))})\n")
    import sys

    (aws_home / "config").write_text(
        f"[profile proc]\ncredential_process = {sys.executable} {script}\n"
    )
    creds = await DefaultChain("proc")()
    assert creds.access_key_id == "AKIDPROC"
    assert creds.session_token == "TPROC"
    assert creds.expiry == expiry


async def test_no_credentials_says_what_was_tried(aws_home: Path) -> None:
    """With nothing configured, CredentialsError lists the sources that were searched."""
    with pytest.raises(sm.CredentialsError) as info:
        await DefaultChain(None)()
    text = str(info.value)
    for source in ("environment", "~/.aws/credentials", "instance metadata", "web identity"):
        assert source in text


async def test_missing_profile(aws_home: Path) -> None:
    """An unknown profile is a CredentialsError naming it."""
    with pytest.raises(sm.CredentialsError, match="nope"):
        await DefaultChain("nope")()


async def test_client_uses_default_chain(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no credentials argument the client signs with what the chain finds."""
    from sagemaker_rt_async.testing import FakeSageMakerRuntime

    fake = FakeSageMakerRuntime(credentials=sm.Credentials("AKIDCHAIN", "SECRETCHAIN"))
    fake.add_endpoint("echo")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRETCHAIN")
    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1", endpoint_url=srv.url, transport="httpx"
        ) as rt:
            r = await rt.invoke_endpoint("echo", b"ok")
    assert r.body == b"ok"


async def test_client_without_credentials_fails_cleanly(aws_home: Path) -> None:
    """No credentials anywhere: the call raises CredentialsError and sends nothing."""
    from sagemaker_rt_async.testing import FakeSageMakerRuntime

    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo")
    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1", endpoint_url=srv.url, transport="httpx"
        ) as rt:
            with pytest.raises(sm.CredentialsError):
                await rt.invoke_endpoint("echo", b"ok")
    assert fake.requests == []


@pytest.mark.parametrize(
    "creds",
    [
        ("AKID", "secret", "token-with-newline\n"),
        ("AKID", "secret with space"),
        ("", "SECRETVALUE123"),
        ("AKID", "sécret"),
    ],
)
def test_unsendable_credentials_are_refused_without_echo(creds: tuple[str, ...]) -> None:
    """Values that cannot go in a header are refused at construction, never quoted back."""
    with pytest.raises(sm.ParamValidationError) as info:
        sm.SageMakerRuntimeClient(region="us-east-1", credentials=creds)  # type: ignore[arg-type]
    assert info.value.param == "credentials"
    for value in creds:
        if len(value) > 4:
            assert value not in str(info.value)


async def test_provider_with_unsendable_token_is_credentials_error() -> None:
    """A provider's bad value becomes CredentialsError, without the value in the message."""

    async def provider() -> sm.Credentials:
        return sm.Credentials("AKID", "SECRET", "TOKEN\r\nX-Evil: 1")

    with pytest.raises(sm.CredentialsError) as info:
        await CredentialResolver(provider, description="p").get()
    assert "TOKEN" not in str(info.value)


async def test_short_lived_credentials_are_not_refreshed_per_request() -> None:
    """15-minute STS credentials (inside the 15-minute window) are fetched once, not per call."""
    clock = Clock()
    calls = 0

    async def provider() -> sm.Credentials:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.01)
        return _creds(f"K{calls}", clock.now + 900)

    resolver = CredentialResolver(provider, description="sts", clock=clock)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(resolver.get)
    assert calls == 1
    clock.now += 900 / 2 + 1  # past half the lifetime: now it refreshes
    await resolver.get()
    assert calls == 2


async def test_a_hung_chain_is_abandoned_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, aws_home: Path
) -> None:
    """A credential chain stuck in a worker thread does not hold callers past the deadline."""
    import threading
    import time as _time

    release = threading.Event()

    def stuck(self: DefaultChain, on_asyncio: bool) -> None:
        release.wait(5)

    monkeypatch.setattr(DefaultChain, "_make_session", stuck)
    resolver = CredentialResolver(DefaultChain(None), description="chain", refresh_timeout=0.2)
    start = _time.monotonic()
    try:
        with pytest.raises(sm.CredentialsError, match="longer than"):
            await resolver.get()
        assert _time.monotonic() - start < 2
    finally:
        release.set()


async def test_concurrent_first_calls_share_one_session(
    monkeypatch: pytest.MonkeyPatch, aws_home: Path
) -> None:
    """Ten concurrent first lookups build the (slow) botocore session once."""
    import time as _time

    built = 0
    real = DefaultChain._make_session

    def counting(self: DefaultChain, on_asyncio: bool) -> object:
        nonlocal built
        built += 1
        _time.sleep(0.05)
        return real(self, on_asyncio)

    monkeypatch.setattr(DefaultChain, "_make_session", counting)
    chain = DefaultChain(None)
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(chain.region)
    assert built == 1
