"""Every code block of the README and of the documentation pages, executed and checked.

The runner globs its pages (README.md and every ``docs/**/*.md`` except the generated reference
pages and the changelog snippet, which hold no hand-written code): a page cannot hold a Python
block that is not run. Each page's Python blocks run in order, in one namespace per page (as a
reader runs them top to bottom), on asyncio and on trio, with ``rt`` bound to a client of the test
kit's fake served on 127.0.0.1 (real HTTP, so code handing the client's URL to another library
works) and top-level ``await`` allowed. The environment points at the same server
(``LoopbackServer.environ()``), so a block that makes its own client the way a user would
(``SageMakerRuntimeClient(region="us-east-1")``) calls the fake too. The fake serves the
toy models of ``sagemaker-rt serve-fake`` (toy-sentiment, toy-llm, flaky-llm, toy-chat,
toy-summarizer), the endpoints the pages' stream samples define, and a few the recipes name
(sentiment, summarizer, tts-model, tgi-llm-slow, and notebook: a container with stateful
sessions).

An HTML comment on the line before a fence (invisible when the Markdown is rendered) says what
a block is (``readme-test:`` is accepted as the prefix too):

``<!-- docs-test: stream NAME CONTENT-TYPE -->``
    a ``text`` block: the bytes endpoint NAME streams, cut into parts of a few bytes (every page's
    samples are served to every page; a name is defined once);
``<!-- docs-test: output -->``
    a ``text`` block: exactly what the Python block before it prints (a block without one must
    print nothing);
``<!-- docs-test: compile-only REASON -->``
    code that needs what no test can give (boto3 with a named profile, a Ray cluster, another
    library's client): compiled (top-level ``await`` allowed), never run; the reason is required;
``<!-- docs-test: asyncio-only REASON -->``
    code of a library that cannot run under trio (the OpenAI SDK's streams): run on asyncio
    only; the reason is required;
``<!-- docs-test: bidi -->``
    a Python block run with ``rt`` bound to a client of the test kit's bidirectional fake
    (``FakeBidiServer``: HTTP/2 on 127.0.0.1, with its toy endpoints ``echo``, ``transcriber``
    ...), which the HTTP/1.1 fake cannot serve;
``<!-- docs-test: asgi METHOD PATH JSON -->``
    a Python block defining ``app``: the request is sent to it and the response body must equal
    the output block after it;
``<!-- docs-test: pytest -->``
    a whole test module (fixtures of the pytest plugin): tests/test_plugin.py runs each one with
    pytest itself, as a user's suite would run it.

A block that calls ``asyncio.run(...)`` (or ``trio.run`` / ``anyio.run``) at top level is a
program: it runs in a thread of its own, as ``python script.py`` would. ``test_*`` functions a
block defines are called with a fresh ``sagemaker_fake`` and its ``sagemaker_client``, as the
pytest plugin would. The prose is checked too: the tables of the streaming cookbook, the Errors
page and the migration page against the code and botocore's service model, and on every page
each class, attribute and method named must exist where the text says it does.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import inspect
import io
import json
import re
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import botocore.config
import botocore.exceptions
import botocore.session
import httpx
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async import (
    AsyncInferenceJob,
    InvokeEndpointResult,
    ResponseStream,
    SageMakerRuntimeClient,
    Session,
    SSEEvent,
    Token,
)
from sagemaker_rt_async._exchange import Response
from sagemaker_rt_async._tokens import TOKEN_FORMATS
from sagemaker_rt_async.cli import demo_fake
from sagemaker_rt_async.testing import (
    FakeBidiServer,
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelResponse,
    ModelStream,
    ModelStreamFailure,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GENERATED = ("reference/", "changelog.md")  # docs/ pages with no hand-written code

# The sections whose tables are checked against the code: (page, heading).
COOKBOOK = ("docs/streaming.md", "Streaming formats cookbook")
ERRORS = ("docs/errors.md", "Errors")
MIGRATING = ("docs/migrating.md", "Migrating from boto3 / aiobotocore")

_FENCE = re.compile(
    r"(?:^<!-- (?:docs|readme)-test: (?P<directive>[^\n]*?) -->\n)?"
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_HEADING = re.compile(r"^(#{1,6}) (.+)$", re.MULTILINE)
_SPAN = re.compile(r"`([^`\n]+)`")
_CLASS = re.compile(r"[A-Z]\w*")
_CONSTANTS = frozenset({"None", "True", "False"})
_KINDS = ("", "compile-only", "asyncio-only", "asgi", "bidi", "pytest")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The pages' async code runs on asyncio and on trio."""
    return str(request.param)


# --- reading the pages -------------------------------------------------------------------------


def pages() -> list[Path]:
    """README.md and every hand-written docs page, found by globbing (never by a list)."""
    found = sorted(
        p for p in DOCS.rglob("*.md") if not str(p.relative_to(DOCS)).startswith(GENERATED)
    )
    return [README, *found]


def guide_pages() -> list[Path]:
    """The docs pages of the user guide (README.md aside)."""
    return [p for p in pages() if p != README]


def name(page: Path) -> str:
    """A page's path from the repository root, as tracebacks and messages show it."""
    return str(page.relative_to(ROOT))


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its docs-test directive ("" if none), its text."""

    lang: str
    directive: str
    code: str
    page: Path
    line: int  # the page line of the block's first line of code

    @property
    def kind(self) -> str:
        """The directive's first word ("" if none)."""
        return self.directive.split(" ", 1)[0]

    @property
    def where(self) -> str:
        return f"{name(self.page)}:{self.line}"


def _blocks_in(text: str, page: Path, offset: int) -> list[Block]:
    return [
        Block(
            m["lang"],
            m["directive"] or "",
            m["code"],
            page,
            offset + text.count("\n", 0, m.start("code")) + 1,
        )
        for m in _FENCE.finditer(text)
    ]


@functools.cache
def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a whole page, in order."""
    return _blocks_in(page.read_text(encoding="utf-8"), page, 0)


@dataclass(frozen=True)
class Section:
    """A heading's section: its page, its text (to the next heading as high), its first line."""

    page: Path
    text: str
    offset: int  # page lines before the section


def _sections_titled(page: Path, title: str) -> list[Section]:
    text = page.read_text(encoding="utf-8")
    found = []
    headings = [m for m in _HEADING.finditer(text) if not _in_fence(text, m.start())]
    for i, m in enumerate(headings):
        if m[2].strip() != title:
            continue
        level = len(m[1])
        end = next((h.start() for h in headings[i + 1 :] if len(h[1]) <= level), len(text))
        found.append(Section(page, text[m.start() : end], text.count("\n", 0, m.start())))
    return found


def _in_fence(text: str, position: int) -> bool:
    return any(m.start() < position < m.end() for m in _FENCE.finditer(text))


@functools.cache
def section(where: tuple[str, str]) -> Section:
    """The one section of a page headed ``title`` (any heading level): ``where`` is
    ``(page, title)``."""
    page, title = where
    found = _sections_titled(ROOT / page, title)
    assert len(found) == 1, f"{page} needs exactly one section titled {title!r}"
    return found[0]


def blocks(title: tuple[str, str]) -> list[Block]:
    """The fenced blocks of a section, in order."""
    sec = section(title)
    return _blocks_in(sec.text, sec.page, sec.offset)


def prose(title: tuple[str, str]) -> str:
    """A section without its fenced blocks: the text and tables a reader reads."""
    return _FENCE.sub("", section(title).text)


def tables(title: tuple[str, str]) -> dict[str, list[list[str]]]:
    """The Markdown tables of a section by their header row; each row a list of cells."""
    found: dict[str, list[list[str]]] = {}
    header: str | None = None
    for line in prose(title).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if header is None:
            header = line
            found[header] = []
        elif not set(line) <= set("|-: "):
            found[header].append(cells)
    return found


def table(title: tuple[str, str], starts_with: str) -> list[list[str]]:
    """The rows of the one table of a section whose header starts with ``starts_with``."""
    matches = [rows for head, rows in tables(title).items() if head.startswith(starts_with)]
    assert len(matches) == 1, f"{title}: expected one table starting {starts_with!r}"
    return matches[0]


def spans(text: str) -> list[str]:
    """The inline code spans of a piece of Markdown."""
    return _SPAN.findall(text)


def class_names(text: str) -> list[str]:
    """Inline code spans that are a bare CamelCase name (quoted error codes are not)."""
    return [s for s in spans(text) if _CLASS.fullmatch(s) and s not in _CONSTANTS]


@dataclass(frozen=True)
class Step:
    """A Python block and what it must print (None: nothing)."""

    block: Block
    expected: str | None


@functools.cache
def steps(page: Path) -> list[Step]:
    """The Python blocks of a page with their expected output, directives checked."""
    found: list[Step] = []
    items = page_blocks(page)
    for i, block in enumerate(items):
        where = block.where
        if block.lang == "text" and block.directive:
            assert block.kind in ("stream", "output"), f"{where}: unknown directive {block.kind!r}"
            if block.kind == "output":
                assert i > 0 and items[i - 1].lang == "python", f"{where}: output of what?"
            continue
        if block.lang != "python":
            # ``cli`` marks a terminal session tests/test_docs_cli.py runs and compares.
            session = block.lang == "console" and block.directive == "cli"
            assert session or not block.directive, f"{where}: a directive on a {block.lang!r} block"
            continue
        assert block.kind in _KINDS, f"{where}: unknown directive {block.kind!r}"
        if block.kind in ("compile-only", "asyncio-only"):
            assert block.directive.strip() != block.kind, f"{where}: {block.kind} needs a reason"
        after = items[i + 1] if i + 1 < len(items) else None
        expected = after.code if after is not None and after.kind == "output" else None
        found.append(Step(block, expected))
    return found


@functools.cache
def wires() -> dict[str, tuple[bytes, str]]:
    """Endpoint name -> (the bytes it streams, its content type), from every page's samples."""
    found: dict[str, tuple[bytes, str]] = {}
    for page in pages():
        for block in page_blocks(page):
            if block.kind == "stream":
                _, endpoint, content_type = block.directive.split(" ")
                assert endpoint not in found, f"{block.where}: {endpoint} streams twice"
                found[endpoint] = (block.code.encode("utf-8"), content_type)
    return found


# --- the endpoints the pages call --------------------------------------------------------------

WAV = b"RIFF" + bytes(range(256)) * 12 + b"\x00" * 124  # 3,200 bytes of "audio"
DOCUMENT = "Async inference queues requests and writes each result to S3."


def cut(wire: bytes, size: int) -> list[bytes]:
    """The wire in parts of ``size`` bytes: mid-line, mid-event, mid-UTF-8 character."""
    return [wire[i : i + size] for i in range(0, len(wire), size)]


def sentiment(invocation: Invocation) -> dict[str, str]:
    """A toy classifier; an empty input is the container's 400."""
    text = invocation.json().get("inputs") if invocation.body else None
    if not text:
        raise ModelFailure(400, "inputs must not be empty")
    return {"label": "NEGATIVE" if "broke" in text else "POSITIVE"}


def summarizer(invocation: Invocation) -> dict[str, str]:
    """An async-inference model: the first words of the document it was given."""
    words = invocation.json()["document"].split()
    return {"summary": " ".join(words[:4]) + " …"}


def notebook_session() -> Callable[[Invocation], ModelResponse]:
    """A stateful container: opens sessions, remembers each one's notes, closes on request."""
    notes: dict[str, list[str]] = {}

    def model(invocation: Invocation) -> ModelResponse:
        request = invocation.json()
        session = invocation.session_id or ""
        if session == "NEW_SESSION":
            session = f"sess-{len(notes) + 1}"
            notes[session] = []
            expiry = f"{session}; Expires=2099-01-01T00:00:00Z"
            return ModelResponse({"session": session}, new_session_id=expiry)
        if session not in notes:
            raise ModelFailure(400, f"unknown session {session!r}")
        if request.get("close"):
            return ModelResponse({"notes": notes.pop(session)}, closed_session_id=session)
        notes[session].append(request["note"])
        return ModelResponse({"notes": len(notes[session])})

    return model


def streaming(parts: list[bytes], content_type: str) -> Callable[[Invocation], ModelStream]:
    """A handler streaming ``parts`` with the model's content type."""
    return lambda invocation: ModelStream(parts, content_type=content_type)


def fake_endpoint(size: int) -> FakeSageMakerRuntime:
    """The fake SageMaker Runtime serving every endpoint the pages' blocks call."""
    fake = demo_fake(processing_time=0.05)  # the toy models of `sagemaker-rt serve-fake`
    streams = wires()
    for endpoint, (wire, content_type) in streams.items():
        fake.add_endpoint(endpoint, streaming(cut(wire, size), content_type))
    first_event = streams["tgi-llm"][0].split(b"\n\n", 1)[0] + b"\n\n"

    async def slow(invocation: Invocation) -> AsyncIterator[bytes]:
        for part in cut(first_event, size):
            yield part
        raise ModelStreamFailure(
            "Model invocation time exceeded", error_code="ModelInvocationTimeExceeded"
        )

    fake.add_endpoint(
        "tgi-llm-slow", lambda inv: ModelStream(slow(inv), content_type="text/event-stream")
    )
    fake.add_endpoint(
        "tts-model", lambda inv: ModelStream(cut(WAV, 1100), content_type="audio/wav")
    )
    fake.add_endpoint("sentiment", sentiment)
    fake.add_endpoint("notebook", notebook_session())
    fake.add_endpoint("summarizer", summarizer, async_output_path="s3://my-bucket/results")
    fake.s3.put("my-bucket", "requests/42.json", json.dumps({"document": DOCUMENT}).encode())
    return fake


# --- running the blocks ------------------------------------------------------------------------


def compile_block(block: Block) -> Any:
    """Compile a block so that tracebacks point at page lines; top-level await allowed."""
    source = "\n" * (block.line - 1) + block.code
    return compile(source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


_RUNNERS = frozenset({"asyncio.run", "trio.run", "anyio.run"})


def is_program(block: Block) -> bool:
    """A block calling ``asyncio.run(...)`` (or trio's, anyio's) at top level: a whole program."""
    tree = ast.parse(block.code)
    return any(
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) in _RUNNERS
        for node in tree.body
    )


async def call_tests(namespace: dict[str, Any], new: set[str]) -> None:
    """Run the ``test_*`` functions a block defined, with the plugin's two fixtures."""
    for test in sorted(new):
        function = namespace[test]
        if not (test.startswith("test_") and inspect.iscoroutinefunction(function)):
            continue
        fake = FakeSageMakerRuntime()
        async with fake.client() as client:
            fixtures = {"sagemaker_fake": fake, "sagemaker_client": client}
            wanted = inspect.signature(function).parameters
            await function(**{k: v for k, v in fixtures.items() if k in wanted})


async def run_step(
    step: Step,
    namespace: dict[str, Any],
    rt: SageMakerRuntimeClient,
    backend: str,
    bidi: SageMakerRuntimeClient | None = None,
) -> None:
    """Run one block with ``rt`` in scope and check what it printed (or served)."""
    block = step.block
    code = compile_block(block)
    if block.kind in ("compile-only", "pytest"):
        return  # pytest blocks: tests/test_plugin.py runs them as test modules
    if block.kind == "asyncio-only" and backend != "asyncio":
        return
    if block.kind == "bidi":
        assert bidi is not None
        rt = bidi
    namespace["rt"] = rt
    before = set(namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if is_program(block):  # asyncio.run() needs a thread with no running loop
            await anyio.to_thread.run_sync(functools.partial(exec, code, namespace))
        else:
            result = eval(code, namespace)  # noqa: S307 - the page's own code, under test
            if inspect.iscoroutine(result):
                await result
    mine = namespace.get("rt")
    if isinstance(mine, SageMakerRuntimeClient) and mine is not rt:
        await mine.aclose()  # a block that made its own client (safe if it closed it)
    await call_tests(namespace, set(namespace) - before)
    printed = out.getvalue()
    if block.kind == "asgi":
        _, method, path, body = block.directive.split(" ", 3)
        transport = httpx.ASGITransport(app=namespace["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            response = await http.request(method, path, json=json.loads(body))
        assert response.status_code == 200, block.where
        printed += response.text
    assert printed == (step.expected or ""), f"{block.where}: the output differs from the page's"


async def run_page(page: Path, size: int, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a page's blocks in order, in one namespace, against a fresh fake endpoint.

    The fake is also served on 127.0.0.1 and the environment points at it, so a client made
    from the environment (the default credential chain, ``AWS_ENDPOINT_URL``) calls it too.
    """
    fake = fake_endpoint(size)
    namespace: dict[str, Any] = {"__name__": "docs"}
    async with fake.serve() as server:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        for key, value in server.environ().items():
            monkeypatch.setenv(key, value)
        async with contextlib.AsyncExitStack() as stack:
            rt = await stack.enter_async_context(fake.client(endpoint_url=server.url))
            bidi = None
            if any(step.block.kind == "bidi" for step in steps(page)):
                bidi_server = FakeBidiServer()
                await anyio.to_thread.run_sync(bidi_server.start)
                stack.push_async_callback(anyio.to_thread.run_sync, bidi_server.stop)
                bidi = await stack.enter_async_context(
                    SageMakerRuntimeClient(
                        endpoint_url=bidi_server.url,
                        region=bidi_server.region,
                        credentials=bidi_server.credentials,
                    )
                )
            for step in steps(page):
                await run_step(step, namespace, rt, backend, bidi)


PAGE_IDS = [name(p) for p in pages()]


def _sizes(page: Path) -> list[int]:
    """Both cuts for a page whose code calls an endpoint that streams a sample cut to size
    (the size changes nothing else, so the other pages run once)."""
    cut_endpoints = [*wires(), "tgi-llm-slow"]
    code = "".join(step.block.code for step in steps(page))
    calls = any(f'"{e}"' in code or f"'{e}'" in code for e in cut_endpoints)
    return [1, 7] if calls else [7]


PAGE_SIZES = [(name(p), size) for p in pages() for size in _sizes(p)]


@pytest.mark.parametrize(("page", "size"), PAGE_SIZES)
async def test_page_runs_and_prints_what_it_shows(
    page: str, size: int, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Python block of the page runs as written and prints exactly the output block after it.

    The stream samples reach the code cut into 1- and 7-byte parts, so a recipe that relied on
    one line or one JSON value per part, a renamed attribute or a wrong format name fails here.
    """
    await run_page(ROOT / page, size, anyio_backend, monkeypatch)


def test_every_python_block_is_seen_and_every_guide_page_runs_code() -> None:
    """No fence escapes the runner, and each guide page has blocks that really run.

    A fence the pattern does not match (indented, in a list) or one whose language is missing
    or misspelled (```` ```py ````, ```` ```python3 ````) would be rendered but never run: every
    fence line must belong to a block the runner read, every block names its language, and
    Python is spelled ``python``. Every guide page has blocks, and one with Python runs some (a
    page of shell commands only, like a command-line guide, has no Python to run).
    """
    for page in pages():
        text = page.read_text(encoding="utf-8")
        fences = len(re.findall(r"^\s*```", text, flags=re.MULTILINE))
        assert fences == 2 * len(page_blocks(page)), f"{name(page)}: a fence the runner cannot read"
        for block in page_blocks(page):
            assert block.lang, f"{block.where}: name the block's language"
            assert block.lang not in ("py", "python3", "pycon", "ipython"), block.where
    for page in guide_pages():
        assert page_blocks(page), f"{name(page)}: the runner found no block"
        if any(b.lang == "python" for b in page_blocks(page)):  # a shell-only page (the CLI's)
            run = [s for s in steps(page) if s.block.kind not in ("compile-only", "pytest")]
            assert run, f"{name(page)}: no Python block runs"
    runs = [p for p in guide_pages() if any(b.lang == "python" for b in page_blocks(p))]
    assert len(runs) >= 8 and sum(len(steps(p)) for p in pages()) >= 40


def test_the_sections_hold_the_blocks_they_should() -> None:
    """The extraction sees every block: runnable and compile-only counts, samples, outputs."""

    def counted(title: tuple[str, str]) -> tuple[int, int, int]:
        found = [s for s in steps(section(title).page) if s.block in blocks(title)]
        return (
            sum(s.block.kind != "compile-only" for s in found),
            sum(s.block.kind == "compile-only" for s in found),
            sum(s.expected is not None for s in found),
        )

    assert counted(COOKBOOK)[0] >= 9 and counted(COOKBOOK)[2] >= 9
    assert counted(ERRORS) == (1, 0, 1)
    # The client block names a profile, which must exist (as in boto3): compile-only.
    assert counted(MIGRATING)[0] >= 6 and counted(MIGRATING)[1] >= 8
    assert set(wires()) >= {
        "tgi-llm",
        "lmi-llm",
        "openai-llm",
        "text-model",
        "ndjson-model",
        "tgi-llm-oom",
        "vllm-tools",
    }
    for page in pages():
        for step in steps(page):
            compile_block(step.block)  # compile-only code must at least be Python


# --- the tables and the prose ------------------------------------------------------------------


def exported(name: str) -> Any:
    """A public name of sagemaker_rt_async (fails if it is not exported)."""
    assert name in sm.__all__, f"{name} is not exported by sagemaker_rt_async"
    return getattr(sm, name)


def error_instance(cls: type[BaseException]) -> BaseException:
    """An instance of one of our exception classes, so instance attributes can be checked."""
    if issubclass(cls, sm.S3Error):
        return cls("m", status_code=404, error_code="NoSuchKey", bucket="b", key="k")
    if issubclass(cls, sm.ServiceError):
        return cls("m", status_code=400, error_code="X")
    if issubclass(cls, sm.RequestTimeout):
        return cls("m", timeout="idle")
    if issubclass(cls, sm.AsyncInferenceFailure):
        return cls("m", job=None, payload=b"", content_type=None)
    if issubclass(cls, sm.AsyncInferenceTimeout):
        return cls("m", job=None, waited=1.0)
    if issubclass(cls, sm.ParamValidationError):
        return cls("param", "m")
    if issubclass(cls, sm.ResponseTooLarge):
        return cls("m", limit=1, content_length=None, request_id=None)
    return cls("m")


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class sagemaker_rt_async exports, by name."""
    found = {}
    for name in sm.__all__:
        value = getattr(sm, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            found[name] = value
    return found


def test_error_tables_name_real_classes_and_attributes() -> None:
    """In the Errors tables, each class exists and each ``.attr`` exists on its row's classes.

    ``Class.attr`` is checked on that class alone; a bare ``.attr`` on every class of the row.
    """
    checked = 0
    for rows in tables(ERRORS).values():
        for cells in rows:
            row = " | ".join(cells)
            classes = [exported(name) for name in class_names(row)]
            for cls in classes:
                assert issubclass(cls, sm.SageMakerRuntimeError), cls
            for span in spans(row):
                qualified = re.fullmatch(r"([A-Z]\w*)\.([a-z_]\w*)", span)
                bare = re.fullmatch(r"\.([a-z_]\w*)", span)
                if qualified:
                    owners, attr = [exported(qualified[1])], qualified[2]
                elif bare:
                    owners, attr = classes, bare[1]
                    assert owners, f"{span} in a row naming no class: {row}"
                else:
                    continue
                for cls in owners:
                    assert hasattr(error_instance(cls), attr), f"{cls.__name__}.{attr}"
                    checked += 1
    assert checked >= 40


# Names the pages may show that are neither ours nor AWS's: the SageMaker Python SDK's (the
# migration page's left column), botocore's Stubber, and other libraries' classes.
OTHERS = frozenset(
    {
        "Stubber",
        "Predictor",
        "AsyncPredictor",
        "Endpoint",
        "LineIterator",
        "JSONSerializer",
        "JSONDeserializer",
        "StringDeserializer",
        "BytesDeserializer",
        "WaiterConfig",
        "AsyncOpenAI",
        "ChatOpenAI",
        "StreamingResponse",
        "FastAPI",
        "AttributeError",
        "TypeError",
        "StopIteration",
        "InvokeEndpointWithBidirectionalStream",  # newer than botocore's model of the service
        "DescribeEndpoint",  # the SageMaker control-plane call sagemaker-core's Endpoint.get makes
        "EndpointScorer",  # ours, in sagemaker_rt_async.ray (the ray extra: not imported here)
    }
)


def prose_of(page: Path) -> str:
    """A whole page without its fenced blocks."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


def test_class_names_in_the_prose_exist() -> None:
    """A CamelCase name in any page's text is ours, botocore's, an AWS member name, or listed.

    Ours: exported by sagemaker_rt_async or its test kit. botocore's: an exception in
    botocore.exceptions (the migration page's left column). AWS: a member of a shape in the
    service model. Others: ``OTHERS``, the few other libraries' names the pages discuss.
    """
    import sagemaker_rt_async.testing as kit

    model = service_model()
    aws = set()
    for shape_name in model.shape_names:
        aws |= set(getattr(model.shape_for(shape_name), "members", {}))
    botocores = {n for n, v in vars(botocore.exceptions).items() if isinstance(v, type)}
    aws |= set(model.operation_names)
    allowed = set(sm.__all__) | set(kit.__all__) | botocores | aws | OTHERS
    checked = 0
    for page in pages():
        names = {n for n in class_names(prose_of(page)) if not n.isupper()}  # not env variables
        unknown = sorted(names - allowed)
        assert not unknown, f"{name(page)}: {unknown}"
        checked += len(names)
    assert checked >= 60


def test_every_exported_exception_is_documented_in_errors() -> None:
    """No exception class of the public API is missing from the Errors section."""
    named = set(spans(prose(ERRORS)))
    missing = sorted(set(exception_classes()) - named)
    assert not missing, f"add to {ERRORS[0]}: {missing}"


async def _never() -> Response:
    raise AssertionError("not sent")  # pragma: no cover - the stream is never opened


def receivers() -> dict[str, Any]:
    """What the pages' ``rt.``, ``r.``, ``stream.`` ... stand for: instances made without I/O."""
    stream = ResponseStream(_never, operation="InvokeEndpointWithResponseStream")
    job = AsyncInferenceJob(
        inference_id="id",
        output_location="s3://bucket/out",
        failure_location=None,
        request_id=None,
        s3=cast(Any, None),
        submitted_at=0.0,
    )
    return {
        "rt": SageMakerRuntimeClient,
        "r": InvokeEndpointResult(b"{}", "application/json"),
        "stream": stream,
        "tokens": stream.tokens(),
        "event": SSEEvent(None, "", None, None),
        "job": job,
        "session": Session(cast(Any, None), "ep", "sess-1", None, InvokeEndpointResult(b"", None)),
    }


_RECEIVER = re.compile(r"(?<![\w.\"'\[])(rt|r|stream|tokens|event|job|session|exc)\.([a-z_]\w*)")


def test_attributes_and_methods_in_the_prose_exist() -> None:
    """Every ``rt.x``, ``r.x``, ``stream.x``, ``tokens.x``, ``job.x``, ``exc.x`` ... named exists.

    ``exc.x`` must exist on some exception we export; the others on the object they stand for.
    """
    objects = receivers()
    errors = [error_instance(cls) for cls in exception_classes().values()]
    checked = 0
    for page in pages():
        for span in spans(prose_of(page)):
            for receiver, attr in _RECEIVER.findall(span):
                where = f"{name(page)}: {receiver}.{attr}"
                if receiver == "exc":
                    assert any(hasattr(e, attr) for e in errors), where
                elif receiver == "event":  # an SSE event, or a hook's event
                    hooks = typing.get_args(sm.Event)
                    fields = {f for cls in hooks for f in cls._fields}
                    assert hasattr(objects[receiver], attr) or attr in fields, where
                elif receiver in (
                    "session",
                    "stream",
                ):  # also a bidirectional session or chat stream
                    other = sm.BidiSession if receiver == "session" else sm.ChatCompletionStream
                    assert hasattr(objects[receiver], attr) or hasattr(other, attr), where
                else:
                    assert hasattr(objects[receiver], attr), where
                checked += 1
    assert checked >= 60


def test_format_names_are_real() -> None:
    """Every ``format="..."`` any page mentions is a format ``tokens()`` accepts."""
    named = set()
    for page in pages():
        named |= set(re.findall(r'format="([^"]*)"', page.read_text(encoding="utf-8")))
    assert named and named <= set(TOKEN_FORMATS), named - set(TOKEN_FORMATS)


def test_token_table_lists_the_token_fields() -> None:
    """The cookbook's Token table has one row per field of ``Token``, in order."""
    rows = table(COOKBOOK, "| `Token` field |")
    assert [spans(cells[0])[0] for cells in rows] == [f.name for f in dataclasses.fields(Token)]


# --- the migration tables, against botocore's service model ------------------------------------

OPERATIONS: dict[str, tuple[str, Callable[..., Any]]] = {
    "invoke": ("InvokeEndpoint", SageMakerRuntimeClient.invoke_endpoint),
    "stream": (
        "InvokeEndpointWithResponseStream",
        SageMakerRuntimeClient.invoke_endpoint_with_response_stream,
    ),
    "async": ("InvokeEndpointAsync", SageMakerRuntimeClient.invoke_endpoint_async),
}


@functools.cache
def service_model() -> Any:
    """botocore's model of SageMaker Runtime (the members boto3 accepts and returns)."""
    return botocore.session.get_session().get_service_model("sagemaker-runtime")


def test_request_member_table_covers_every_member_of_every_operation() -> None:
    """Each AWS request member has a row; boto3's keyword is the member; ours is a parameter.

    The "operations" column must be exactly the operations whose input has the member, and the
    parameter named must be in each of those methods' signatures.
    """
    model = service_model()
    rows = {}
    for cells in table(MIGRATING, "| AWS member |"):
        member = spans(cells[0])[0]
        assert spans(cells[1]) == [f"{member}="], cells
        ours = spans(cells[2])[0].rstrip("=")
        used = {word.strip() for word in cells[3].split(",")}
        assert used <= set(OPERATIONS), cells
        rows[member] = (ours, used)
    for key, (operation, method) in OPERATIONS.items():
        members = set(model.operation_model(operation).input_shape.members)
        assert {m for m, (_, used) in rows.items() if key in used} == members, operation
        parameters = inspect.signature(method).parameters
        for member in members:
            assert rows[member][0] in parameters, f"{operation}: {member} -> {rows[member][0]}"


def test_response_member_table_covers_every_output_member() -> None:
    """Each AWS response member of the three operations has a row (attributes: see prose test)."""
    model = service_model()
    documented = {
        names[0]
        for cells in table(MIGRATING, "| AWS response member |")
        if (names := spans(cells[0]))
    }
    for operation, _ in OPERATIONS.values():
        members = set(model.operation_model(operation).output_shape.members)
        assert members <= documented, f"{operation}: {members - documented}"


def _calls(snippet: str) -> Iterator[tuple[str | None, list[str]]]:
    """(callee, keyword names) for ``f(<snippet>)`` and every call inside it; callee None: f."""
    tree = ast.parse(f"f({snippet})", mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = None if node is tree.body else ast.unparse(node.func)
            yield callee, [k.arg for k in node.keywords if k.arg is not None]


def test_client_option_table_names_real_keywords() -> None:
    """Both columns of the client-options table use keywords the named callables accept."""
    import boto3.session

    theirs = {
        None: set(inspect.signature(boto3.session.Session.client).parameters),
        "boto3.Session": set(inspect.signature(boto3.session.Session).parameters),
        "Config": set(botocore.config.Config.OPTION_DEFAULTS),
    }
    ours = {
        None: set(inspect.signature(SageMakerRuntimeClient).parameters),
        "Retry": set(inspect.signature(sm.Retry).parameters),
        "Timeout": set(inspect.signature(sm.Timeout).parameters),
    }
    checked = 0
    for cells in table(MIGRATING, "| boto3 / botocore |"):
        for column, accepted in ((cells[0], theirs), (cells[1], ours)):
            for snippet in spans(column):
                for callee, keywords in _calls(snippet):
                    assert set(keywords) <= accepted[callee], f"{snippet}: {callee}"
                    checked += len(keywords)
    assert checked >= 20


def test_error_mapping_table_names_real_exceptions_on_both_sides() -> None:
    """botocore's exception names exist in botocore.exceptions; ours are exported exceptions."""
    rows = table(MIGRATING, "| boto3 | sagemaker-rt-async |")
    for theirs, ours in rows:
        for name in class_names(theirs):
            assert isinstance(getattr(botocore.exceptions, name, None), type), name
        for name in class_names(ours):
            assert issubclass(exported(name), sm.SageMakerRuntimeError), name
    assert sum(len(class_names(cells[0])) for cells in rows) >= 7


def slug(heading: str) -> str:
    """A heading's anchor (GitHub's and MkDocs' agree on these): lower case, punctuation
    dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings."""
    text = page.read_text(encoding="utf-8")
    return {slug(m[2]) for m in _HEADING.finditer(text) if not _in_fence(text, m.start())}


def test_links_point_at_real_headings_and_files() -> None:
    """Every relative link of every page names a file that exists, and its ``#anchor`` a heading
    of that file (or of the page itself)."""
    checked = 0
    for page in pages():
        text = _FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{name(page)}: no file {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in anchors(linked), f"{name(page)}: no heading for {target}"
            checked += 1
    assert checked >= 5


def test_the_readme_is_a_front_page() -> None:
    """README.md stays a front page: at most 250 lines, the two set-up commands before anything
    else, a quickstart that runs for each operation, and links into the guide."""
    text = README.read_text(encoding="utf-8")
    assert text.count("\n") <= 250, "README.md is the front page: move details into docs/"
    first = page_blocks(README)[0]
    assert first.lang == "sh" and first.code.startswith("make demo"), "the set-up commands first"
    assert "\nmake test" in first.code
    ran = "".join(s.block.code for s in steps(README) if s.block.kind not in ("compile-only",))
    for call in (
        "invoke_endpoint(",
        "invoke_endpoint_with_response_stream(",
        "invoke_endpoint_async(",
        "invoke_endpoint_with_bidirectional_stream(",
        "chat_completions",
    ):
        assert call in ran, f"the README needs a quickstart that runs {call}...)"
    linked = set(re.findall(r"\]\((docs/[\w./-]+\.md)", text))
    assert "docs/getting-started.md" in linked and len(linked) >= 5, linked
