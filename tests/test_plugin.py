"""The pytest plugin: its fixtures under pytest-asyncio and anyio, route_to_fake, the recipes.

Most tests run small suites with ``pytester`` in a subprocess (a fresh interpreter loading the
plugin through its entry point, as a user's pytest does), always with ``-W error``. A few use the
fixtures directly, since the plugin is active in this suite too.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from sagemaker_rt_async import SageMakerRuntimeClient, TransportError
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    FakeSageMakerRuntime,
    Invocation,
    StreamFault,
    route_to_fake,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

INI = """\
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in a subprocess in the pytester directory, as the brief's CI does."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args)


def suite(pytester: pytest.Pytester, ini: str = INI, **files: str) -> None:
    """Write an ini file and test modules (dedented) into the pytester directory."""
    pytester.makeini(ini)
    pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in files.items()})


# One body, run by both plugins: `mark` is pytest-asyncio's or anyio's marker.
FIXTURE_TESTS = """
from sagemaker_rt_async import ModelError
from sagemaker_rt_async.testing import ModelFailure

seen = []


@mark
async def test_in_process_client(sagemaker_fake, sagemaker_client):
    sagemaker_fake.add_endpoint("echo")
    result = await sagemaker_client.invoke_endpoint("echo", b"hi")
    assert result.body == b"hi"
    assert len(sagemaker_fake.requests) == 1
    seen.append(sagemaker_client)


@mark
async def test_model_error(sagemaker_fake, sagemaker_client):
    @sagemaker_fake.endpoint("broken")
    def broken(invocation):
        raise ModelFailure(400, "bad input")

    with pytest.raises(ModelError) as info:
        await sagemaker_client.invoke_endpoint("broken", b"x")
    assert info.value.original_message == "bad input"


@mark
async def test_loopback_client(sagemaker_fake, sagemaker_server, sagemaker_loopback_client):
    sagemaker_fake.add_endpoint("parts", lambda invocation: [b"one", b"two"])
    assert sagemaker_loopback_client.endpoint_url == sagemaker_server.url
    async with sagemaker_loopback_client.invoke_endpoint_with_response_stream(
        "parts", b"{}"
    ) as stream:
        assert [part async for part in stream] == [b"one", b"two"]
    assert sagemaker_server.open_connections == 1  # kept alive until the fixture closes it
    seen.append(sagemaker_loopback_client)


@mark
async def test_both_clients_share_the_fake(
    sagemaker_fake, sagemaker_client, sagemaker_loopback_client
):
    sagemaker_fake.add_endpoint("echo")
    await sagemaker_client.invoke_endpoint("echo", b"a")
    await sagemaker_loopback_client.invoke_endpoint("echo", b"b")
    assert [r.body for r in sagemaker_fake.requests] == [b"a", b"b"]
    seen.extend([sagemaker_client, sagemaker_loopback_client])


@mark
@pytest.mark.sagemaker_fake(verify_signatures=False, region="eu-west-1")
async def test_marker_configures_the_fake(sagemaker_fake, sagemaker_client):
    assert (sagemaker_fake.verify_signatures, sagemaker_fake.region) == (False, "eu-west-1")
    sagemaker_fake.add_endpoint("echo")
    async with sagemaker_fake.client(credentials=("AKIDSOMEONEELSE", "other-secret")) as rt:
        assert (await rt.invoke_endpoint("echo", b"x")).body == b"x"


def test_every_client_was_closed_and_each_test_had_a_fresh_fake(sagemaker_fake):
    assert len(seen) == 4 * BACKENDS
    assert all(repr(client).endswith(" closed>") for client in seen)
    assert sagemaker_fake.requests == [] and sagemaker_fake.verify_signatures
"""


def test_fixtures_under_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    """In strict mode, @pytest.mark.asyncio tests get working clients, closed in their loop."""
    header = "import pytest\n\nmark = pytest.mark.asyncio\nBACKENDS = 1\n"
    module_loop = """
        import pytest


        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_scoped_loop(sagemaker_fake, sagemaker_loopback_client):
            sagemaker_fake.add_endpoint("echo")
            assert (await sagemaker_loopback_client.invoke_endpoint("echo", b"m")).body == b"m"


        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_scoped_loop_again(sagemaker_fake, sagemaker_loopback_client):
            sagemaker_fake.add_endpoint("echo")
            assert (await sagemaker_loopback_client.invoke_endpoint("echo", b"n")).body == b"n"
        """
    suite(
        pytester,
        test_fixtures=header + FIXTURE_TESTS,
        test_module_loop=module_loop,
    )
    run(pytester).assert_outcomes(passed=8)


def test_fixtures_under_anyio_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    """@pytest.mark.anyio tests get working clients on both backends, closed in their loop."""
    header = """\
import pytest

mark = pytest.mark.anyio
BACKENDS = 2


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""
    suite(pytester, test_fixtures=header + FIXTURE_TESTS)
    run(pytester).assert_outcomes(passed=11)


STREAM_RECIPE = """
import pytest

from sagemaker_rt_async import ModelStreamError
from sagemaker_rt_async.testing import ModelStreamFailure


async def tell_story(rt):
    # The app: keeps the lines that arrived before the model failed.
    lines = []
    try:
        async with rt.invoke_endpoint_with_response_stream("llm", json={"inputs": "go"}) as s:
            async for line in s.lines():
                lines.append(line)
    except ModelStreamError as exc:
        return lines, exc
    return lines, None


@pytest.fixture
def storyteller(sagemaker_fake):
    @sagemaker_fake.endpoint("llm")
    async def model(invocation):
        yield "Once upon\\n"
        yield "a time\\n"
        raise ModelStreamFailure("too slow", error_code="ModelInvocationTimeExceeded")


async def check(rt):
    lines, error = await tell_story(rt)
    assert lines == ["Once upon", "a time"]
    assert isinstance(error, ModelStreamError)
    assert error.error_code == "ModelInvocationTimeExceeded"
    assert error.parts_received == 2


@pytest.mark.asyncio
async def test_with_pytest_asyncio(storyteller, sagemaker_client, sagemaker_loopback_client):
    await check(sagemaker_client)
    await check(sagemaker_loopback_client)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_with_anyio(storyteller, sagemaker_client, sagemaker_loopback_client):
    await check(sagemaker_client)
    await check(sagemaker_loopback_client)
"""


def test_stream_fault_recipe(pytester: pytest.Pytester) -> None:
    """A ModelStreamFailure mid-stream reaches the app as ModelStreamError, after the parts."""
    suite(pytester, test_stream=STREAM_RECIPE)
    run(pytester).assert_outcomes(passed=3)


RESPX_RECIPE = """
import httpx
import pytest
import respx

from sagemaker_rt_async import SageMakerRuntimeClient
from sagemaker_rt_async.testing import TEST_CREDENTIALS, route_to_fake


async def enrich(http, rt, user_id):
    # The app: its own httpx client, lent to the SageMaker client.
    user = (await http.get(f"https://users.example/{user_id}")).json()
    return (await rt.invoke_endpoint("echo", json=user)).json()


@pytest.mark.asyncio
@respx.mock
async def test_with_pytest_asyncio_and_respx_mock(sagemaker_fake):
    sagemaker_fake.add_endpoint("echo")
    route = route_to_fake(respx.mock, sagemaker_fake)
    respx.get("https://users.example/7").respond(json={"name": "Ada"})
    async with httpx.AsyncClient() as http:
        async with SageMakerRuntimeClient(
            region="us-east-1", credentials=TEST_CREDENTIALS, http_client=http
        ) as rt:
            assert await enrich(http, rt, 7) == {"name": "Ada"}
        assert not http.is_closed  # lent, not closed by the SageMaker client
    assert route.call_count == 1 and len(sagemaker_fake.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_with_anyio_and_the_respx_mock_fixture(respx_mock, sagemaker_fake):
    sagemaker_fake.add_endpoint("echo")
    route_to_fake(respx_mock, sagemaker_fake)
    respx_mock.get("https://users.example/8").respond(json={"name": "Grace"})
    async with httpx.AsyncClient() as http, SageMakerRuntimeClient(
        region="us-east-1", credentials=TEST_CREDENTIALS, http_client=http
    ) as rt:
        assert await enrich(http, rt, 8) == {"name": "Grace"}
"""


def test_respx_recipe(pytester: pytest.Pytester) -> None:
    """route_to_fake answers the app's SageMaker calls next to its other respx mocks."""
    suite(pytester, test_respx=RESPX_RECIPE)
    run(pytester).assert_outcomes(passed=3)


UNRELATED_SUITE = """
import pytest


@pytest.fixture
def client():
    return "the suite's own fixture"


@pytest.fixture
async def resource():
    yield "async"


def test_sync(client):
    assert client == "the suite's own fixture"


@pytest.mark.asyncio
async def test_pytest_asyncio(client):
    assert client


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio(resource):
    assert resource == "async"
"""

PLUGIN_REPORT = """
def pytest_report_header(config):
    return f"sagemaker plugin: {config.pluginmanager.has_plugin('sagemaker_rt_async')}"
"""


def test_a_suite_not_using_the_fixtures_is_unaffected(pytester: pytest.Pytester) -> None:
    """Loaded or not, the plugin changes nothing for tests that do not ask for its fixtures."""
    suite(pytester, test_unrelated=UNRELATED_SUITE)
    pytester.makeconftest(PLUGIN_REPORT)
    loaded = run(pytester, "--strict-markers")
    loaded.stdout.fnmatch_lines(["sagemaker plugin: True"])
    loaded.assert_outcomes(passed=4)
    without = run(pytester, "--strict-markers", "-p", "no:sagemaker_rt_async")
    without.stdout.fnmatch_lines(["sagemaker plugin: False"])
    without.assert_outcomes(passed=4)


def test_misuse_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    """A sync test asking for a client, and a malformed marker, fail saying what to do."""
    misuse = """
        import pytest


        def test_sync_client(sagemaker_client):
            pass


        @pytest.mark.sagemaker_fake("eu-west-1")
        def test_positional_marker(sagemaker_fake):
            pass


        @pytest.mark.sagemaker_fake(verify=False)
        def test_unknown_option(sagemaker_fake):
            pass


        def test_sync_server_is_fine(sagemaker_server):
            assert sagemaker_server.url.startswith("http://127.0.0.1:")
        """
    suite(pytester, test_misuse=misuse)
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*the sagemaker_client fixture is for async tests: mark the test @pytest.mark.anyio*",
            "*sagemaker_fake takes keyword options only*",
            "*sagemaker_fake: *unexpected keyword argument 'verify'*",
        ]
    )


def test_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    """Auto mode: unmarked async tests get clients; anyio tests get a clear error, no leak."""
    tests = """
        import pytest


        async def test_unmarked_runs_under_auto_mode(sagemaker_fake, sagemaker_loopback_client):
            sagemaker_fake.add_endpoint("echo")
            assert (await sagemaker_loopback_client.invoke_endpoint("echo", b"a")).body == b"a"


        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
        async def test_anyio(sagemaker_client):
            pass
        """
    suite(pytester, test_auto=tests)
    result = run(pytester, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*cannot serve an anyio test while pytest-asyncio runs in auto*"])


_RECIPE = re.compile(
    r"^<!-- (?:docs|readme)-test: pytest -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL
)


def doc_recipes() -> dict[str, str]:
    """The test modules the docs show (blocks marked ``<!-- docs-test: pytest -->``), by page.

    The pages are globbed as tests/test_readme.py globs them, which runs every other block.
    """
    found = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for i, block in enumerate(_RECIPE.findall(page.read_text(encoding="utf-8"))):
            found[f"test_{page.stem.replace('-', '_').lower()}_{i}"] = block
    return found


def test_doc_recipes_pass(pytester: pytest.Pytester) -> None:
    """Every plugin recipe of the docs runs as written, as a test module, and passes."""
    recipes = doc_recipes()
    assert len(recipes) >= 4
    tests = sum(len(re.findall(r"^(?:async )?def test_", body, re.M)) for body in recipes.values())
    suite(pytester, **recipes)
    result = run(pytester)
    outcomes = result.parseoutcomes()
    # anyio runs each @pytest.mark.anyio test on every backend installed (asyncio, trio).
    assert result.ret == 0 and outcomes["passed"] >= tests, outcomes


# Direct uses of the fixtures and of route_to_fake in this suite.


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The direct async tests run on asyncio and on trio."""
    return str(request.param)


@pytest.mark.sagemaker_fake(account_id="000000000000")
def test_marker_options_reach_the_fake(sagemaker_fake: FakeSageMakerRuntime) -> None:
    """The marker's keywords are the constructor's."""
    assert sagemaker_fake.account_id == "000000000000"
    assert sagemaker_fake.requests == []


@pytest.mark.anyio
async def test_fixtures_in_this_suite(
    sagemaker_fake: FakeSageMakerRuntime,
    sagemaker_client: SageMakerRuntimeClient,
    sagemaker_loopback_client: SageMakerRuntimeClient,
) -> None:
    """The plugin serves this project's own suite too (anyio, both backends)."""
    sagemaker_fake.add_endpoint("echo")
    assert (await sagemaker_client.invoke_endpoint("echo", b"1")).body == b"1"
    assert (await sagemaker_loopback_client.invoke_endpoint("echo", b"2")).body == b"2"


@pytest.mark.anyio
async def test_route_to_fake_streams_part_by_part() -> None:
    """Through respx the stream is not buffered: a part arrives before the next one exists."""
    fake = FakeSageMakerRuntime()
    received_first = anyio.Event()

    async def model(invocation: Invocation) -> AsyncIterator[bytes]:
        yield b"first"
        await received_first.wait()  # would hang if respx (or we) read the body up front
        yield b"second"

    fake.add_endpoint("llm", model)
    fake.add_endpoint("reset", lambda inv: [b"x", StreamFault.reset()])
    with respx.mock() as router:
        route = route_to_fake(router, fake)
        async with (
            httpx.AsyncClient() as http,
            SageMakerRuntimeClient(
                region="us-east-1", credentials=TEST_CREDENTIALS, http_client=http
            ) as rt,
        ):
            parts = []
            with anyio.fail_after(10):
                async for part in rt.invoke_endpoint_with_response_stream("llm", b"{}"):
                    parts.append(part)
                    received_first.set()
            assert parts == [b"first", b"second"]
            with pytest.raises(TransportError):  # the reset reaches the client as on a socket
                async for _ in rt.invoke_endpoint_with_response_stream("reset", b"{}"):
                    pass
    assert route.call_count == 2
    assert [r.path for r in fake.requests] == [
        "/endpoints/llm/invocations-response-stream",
        "/endpoints/reset/invocations-response-stream",
    ]


@pytest.mark.anyio
async def test_route_to_fake_other_region_and_s3() -> None:
    """Another region's origin and a bucket's S3 origin are routed; other hosts stay respx's."""
    fake = FakeSageMakerRuntime(region="eu-west-1")
    fake.add_endpoint("echo")
    fake.add_endpoint("job", lambda inv: {"done": inv.json()}, async_output_path="s3://out/r")
    with respx.mock() as router:
        route_to_fake(router, fake, base_url="https://runtime.sagemaker.eu-west-1.amazonaws.com")
        s3 = route_to_fake(router, fake, base_url="https://out.s3.eu-west-1.amazonaws.com")
        router.get("https://elsewhere.example/").respond(204)
        async with (
            httpx.AsyncClient() as http,
            SageMakerRuntimeClient(
                region="eu-west-1", credentials=TEST_CREDENTIALS, http_client=http
            ) as rt,
        ):
            assert (await rt.invoke_endpoint("echo", b"eu")).body == b"eu"
            job = await rt.invoke_endpoint_async("job", json={"n": 1})
            result = await job.result(timeout=10, poll_interval=0.01)
            assert result.json() == {"done": {"n": 1}}
            assert (await http.get("https://elsewhere.example/")).status_code == 204
    assert [call.request.method for call in s3.calls] == ["HEAD", "GET"]


def test_route_to_fake_refuses_bad_arguments() -> None:
    """A non-router, a base URL with a path or another scheme are refused up front."""
    fake = FakeSageMakerRuntime()
    with pytest.raises(TypeError, match="respx router"):
        route_to_fake(object(), fake)  # type: ignore[arg-type]
    router = respx.Router()
    with pytest.raises(ValueError, match="without a path"):
        route_to_fake(router, fake, base_url="https://vpce.example/prefix")
    with pytest.raises(ValueError, match="http"):
        route_to_fake(router, fake, base_url="ftp://runtime.example")
    assert route_to_fake(router, fake, base_url="http://127.0.0.1:8080/") is not None


def test_route_to_fake_without_respx(monkeypatch: pytest.MonkeyPatch) -> None:
    """respx is optional: without it, route_to_fake says what to install."""
    monkeypatch.setitem(sys.modules, "respx", None)
    with pytest.raises(ModuleNotFoundError, match="pip install respx"):
        route_to_fake(object(), FakeSageMakerRuntime())  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_server_environ_points_a_default_client_and_boto3_at_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``server.environ()`` alone makes ``SageMakerRuntimeClient()`` and boto3 call the fake."""
    import boto3

    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo")
    with fake.serve() as server:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")  # stale
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        async with SageMakerRuntimeClient() as rt:
            assert (await rt.invoke_endpoint("echo", b"ours")).body == b"ours"
        runtime = boto3.session.Session().client("sagemaker-runtime")
        answer = await anyio.to_thread.run_sync(
            lambda: runtime.invoke_endpoint(EndpointName="echo", Body=b"boto3")
        )
        assert answer["Body"].read() == b"boto3"
    assert server.environ()["AWS_ACCESS_KEY_ID"] == fake.credentials.access_key_id


def test_fixture_fakes_keep_verifying_signatures(pytester: pytest.Pytester) -> None:
    """The fixtures' fake checks signatures against its keys (``serve-fake`` by default does
    not): a client signing with other keys gets the service's 403."""
    suite(
        pytester,
        test_verify="""
        import pytest
        from sagemaker_rt_async import AuthenticationError, SageMakerRuntimeClient

        @pytest.mark.asyncio
        async def test_other_keys(sagemaker_fake, sagemaker_server):
            assert not sagemaker_fake.accept_any_credentials
            sagemaker_fake.add_endpoint("echo")
            async with SageMakerRuntimeClient(
                region="us-east-1", endpoint_url=sagemaker_server.url,
                credentials=("AKIAOTHERKEY", "other-secret"), retry=False,
            ) as rt:
                with pytest.raises(AuthenticationError):
                    await rt.invoke_endpoint("echo", b"x")
        """,
    )
    run(pytester).assert_outcomes(passed=1)
