"""The README's cookbook, errors and migration sections, executed and checked against the code.

Every fenced Python block of the sections "Streaming formats cookbook", "Errors" and "Migrating
from boto3 / aiobotocore" runs, in order, in one namespace per section (as a reader runs them
top to bottom), with ``rt`` bound to a client of the test kit's fake endpoint. An HTML comment on
the line before a fence (invisible when the Markdown is rendered) says what a block is:

``<!-- readme-test: stream NAME CONTENT-TYPE -->``
    a ``text`` block: the bytes endpoint NAME streams, cut into parts of a few bytes;
``<!-- readme-test: output -->``
    a ``text`` block: exactly what the Python block before it prints (a block without one must
    print nothing);
``<!-- readme-test: compile-only -->``
    boto3 / aiobotocore code: compiled (top-level ``await`` allowed), never run;
``<!-- readme-test: asgi METHOD PATH JSON -->``
    a Python block defining ``app``: the request is sent to it and the response body must equal
    the output block after it.

``test_*`` functions a block defines are called with a fresh ``sagemaker_fake`` and its
``sagemaker_client``, as the pytest plugin would. The tables are checked too: every class,
attribute, method, keyword and AWS member they name must exist where they say it does.
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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

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
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelStream,
    ModelStreamFailure,
)

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[1] / "README.md"
COOKBOOK = "Streaming formats cookbook"
ERRORS = "Errors"
MIGRATING = "Migrating from boto3 / aiobotocore"
SECTIONS = (COOKBOOK, ERRORS, MIGRATING)

_FENCE = re.compile(
    r"(?:^<!-- readme-test: (?P<directive>[^\n]*?) -->\n)?^```(?P<lang>\w*)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_SPAN = re.compile(r"`([^`\n]+)`")
_CLASS = re.compile(r"[A-Z]\w*")
_CONSTANTS = frozenset({"None", "True", "False"})


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The README's async code runs on asyncio and on trio."""
    return str(request.param)


# --- reading the README ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its readme-test directive ("" if none), its text."""

    lang: str
    directive: str
    code: str
    line: int  # the README line of the block's first line of code


def section(title: str) -> tuple[str, int]:
    """The text of the ``## title`` section and the number of README lines before it."""
    text = README.read_text(encoding="utf-8")
    heading = f"\n## {title}\n"
    assert text.count(heading) == 1, f"README needs exactly one {heading.strip()!r} section"
    start = text.index(heading) + 1
    end = text.find("\n## ", start + len(heading))
    body = text[start:] if end < 0 else text[start : end + 1]
    return body, text.count("\n", 0, start)


def blocks(title: str) -> list[Block]:
    """The fenced blocks of a section, in order."""
    body, offset = section(title)
    return [
        Block(
            m["lang"],
            m["directive"] or "",
            m["code"],
            offset + body.count("\n", 0, m.start("code")) + 1,
        )
        for m in _FENCE.finditer(body)
    ]


def prose(title: str) -> str:
    """A section without its fenced blocks: the text and tables a reader reads."""
    body, _ = section(title)
    return _FENCE.sub("", body)


def tables(title: str) -> dict[str, list[list[str]]]:
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


def table(title: str, starts_with: str) -> list[list[str]]:
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
    """A runnable Python block and what it must print (None: nothing)."""

    block: Block
    expected: str | None


def steps(title: str) -> list[Step]:
    """The Python blocks of a section with their expected output, directives checked."""
    found: list[Step] = []
    items = blocks(title)
    for i, block in enumerate(items):
        kind = block.directive.split(" ", 1)[0]
        where = f"README.md:{block.line}"
        if block.lang == "text":
            assert kind in ("stream", "output"), f"{where}: a text block needs a directive"
            if kind == "output":
                assert i > 0 and items[i - 1].lang == "python", f"{where}: output of what?"
            continue
        assert block.lang == "python", f"{where}: unexpected {block.lang!r} block"
        assert kind in ("", "compile-only", "asgi"), f"{where}: unknown directive {kind!r}"
        after = items[i + 1] if i + 1 < len(items) else None
        expected = after.code if after is not None and after.directive == "output" else None
        found.append(Step(block, expected))
    return found


def wires() -> dict[str, tuple[bytes, str]]:
    """Endpoint name -> (the bytes it streams, its content type), from the stream samples."""
    found: dict[str, tuple[bytes, str]] = {}
    for title in SECTIONS:
        for block in blocks(title):
            if block.directive.startswith("stream "):
                _, name, content_type = block.directive.split(" ")
                assert name not in found, f"README.md:{block.line}: {name} streams twice"
                found[name] = (block.code.encode("utf-8"), content_type)
    return found


# --- the endpoints the README calls ------------------------------------------------------------

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


def streaming(parts: list[bytes], content_type: str) -> Callable[[Invocation], ModelStream]:
    """A handler streaming ``parts`` with the model's content type."""
    return lambda invocation: ModelStream(parts, content_type=content_type)


def fake_endpoint(size: int) -> FakeSageMakerRuntime:
    """The fake SageMaker Runtime serving every endpoint the README's blocks call."""
    fake = FakeSageMakerRuntime()
    streams = wires()
    for name, (wire, content_type) in streams.items():
        fake.add_endpoint(name, streaming(cut(wire, size), content_type))
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
    fake.add_endpoint("summarizer", summarizer, async_output_path="s3://my-bucket/results")
    fake.s3.put("my-bucket", "requests/42.json", json.dumps({"document": DOCUMENT}).encode())
    return fake


# --- running the blocks ------------------------------------------------------------------------


def compile_block(block: Block) -> Any:
    """Compile a block so that tracebacks point at README lines; top-level await allowed."""
    source = "\n" * (block.line - 1) + block.code
    return compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def call_tests(namespace: dict[str, Any], new: set[str]) -> None:
    """Run the ``test_*`` functions a block defined, with the plugin's two fixtures."""
    for name in sorted(new):
        function = namespace[name]
        if not (name.startswith("test_") and inspect.iscoroutinefunction(function)):
            continue
        fake = FakeSageMakerRuntime()
        async with fake.client() as client:
            fixtures = {"sagemaker_fake": fake, "sagemaker_client": client}
            wanted = inspect.signature(function).parameters
            await function(**{k: v for k, v in fixtures.items() if k in wanted})


async def run_step(step: Step, namespace: dict[str, Any], rt: SageMakerRuntimeClient) -> None:
    """Run one block with ``rt`` in scope and check what it printed (or served)."""
    block = step.block
    where = f"README.md:{block.line}"
    code = compile_block(block)
    if block.directive == "compile-only":
        return
    namespace["rt"] = rt
    before = set(namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = eval(code, namespace)  # noqa: S307 - the README's own code, under test
        if inspect.iscoroutine(result):
            await result
    mine = namespace.get("rt")
    if isinstance(mine, SageMakerRuntimeClient) and mine is not rt:
        await mine.aclose()  # a block that made its own client (safe if it closed it)
    await call_tests(namespace, set(namespace) - before)
    printed = out.getvalue()
    if block.directive.startswith("asgi "):
        _, method, path, body = block.directive.split(" ", 3)
        transport = httpx.ASGITransport(app=namespace["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            response = await http.request(method, path, json=json.loads(body))
        assert response.status_code == 200, where
        printed += response.text
    assert printed == (step.expected or ""), f"{where}: the output differs from the README's"


async def run_section(title: str, size: int) -> None:
    """Run a section's blocks in order, in one namespace, against a fresh fake endpoint."""
    fake = fake_endpoint(size)
    namespace: dict[str, Any] = {"__name__": "readme"}
    async with fake.client() as rt:
        for step in steps(title):
            await run_step(step, namespace, rt)


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("title", SECTIONS)
async def test_section_runs_and_prints_what_it_shows(title: str, size: int) -> None:
    """Each Python block runs as written and prints exactly the output block after it.

    The stream samples reach the code cut into 1- and 7-byte parts, so a recipe that relied on
    one line or one JSON value per part, a renamed attribute or a wrong format name fails here.
    """
    await run_section(title, size)


def test_the_sections_hold_the_blocks_they_should() -> None:
    """The extraction sees every block: runnable and compile-only counts, samples, outputs."""
    counted = {
        title: (
            sum(s.block.directive != "compile-only" for s in steps(title)),
            sum(s.block.directive == "compile-only" for s in steps(title)),
            sum(s.expected is not None for s in steps(title)),
        )
        for title in SECTIONS
    }
    assert counted[COOKBOOK][0] >= 9 and counted[COOKBOOK][2] >= 9
    assert counted[ERRORS] == (1, 0, 1)
    # The client block names a profile, which must exist (as in boto3): compile-only.
    assert counted[MIGRATING][0] >= 6 and counted[MIGRATING][1] >= 8
    assert set(wires()) == {
        "tgi-llm",
        "lmi-llm",
        "openai-llm",
        "text-model",
        "ndjson-model",
        "tgi-llm-oom",
        "vllm-tools",
    }
    for title in SECTIONS:
        for step in steps(title):
            if step.block.directive == "compile-only":
                compile_block(step.block)  # boto3 code must at least be Python


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


def test_class_names_in_the_prose_exist() -> None:
    """A CamelCase name in the sections' text is ours, botocore's, or an AWS member name.

    Ours: exported by sagemaker_rt_async. botocore's: an exception in botocore.exceptions (the
    migration section's left column). AWS: a member of a shape in the service model.
    """
    model = service_model()
    aws = set()
    for shape_name in model.shape_names:
        aws |= set(getattr(model.shape_for(shape_name), "members", {}))
    botocores = {n for n, v in vars(botocore.exceptions).items() if isinstance(v, type)}
    allowed = set(sm.__all__) | botocores | aws | {"Stubber"}
    for title in SECTIONS:
        names = {n for n in class_names(prose(title)) if not n.isupper()}  # not env variables
        unknown = sorted(names - allowed)
        assert not unknown, f"{title}: {unknown}"


def test_every_exported_exception_is_documented_in_errors() -> None:
    """No exception class of the public API is missing from the Errors section."""
    named = set(spans(prose(ERRORS)))
    missing = sorted(set(exception_classes()) - named)
    assert not missing, f"add to README's Errors section: {missing}"


async def _never() -> Response:
    raise AssertionError("not sent")  # pragma: no cover - the stream is never opened


def receivers() -> dict[str, Any]:
    """What the README's ``rt.``, ``r.``, ``stream.`` ... stand for: instances made without I/O."""
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
        "session": Session,
    }


_RECEIVER = re.compile(r"(?<![\w.\"'\[])(rt|r|stream|tokens|event|job|session|exc)\.([a-z_]\w*)")


def test_attributes_and_methods_in_the_prose_exist() -> None:
    """Every ``rt.x``, ``r.x``, ``stream.x``, ``tokens.x``, ``job.x``, ``exc.x`` ... named exists.

    ``exc.x`` must exist on some exception we export; the others on the object they stand for.
    """
    objects = receivers()
    errors = [error_instance(cls) for cls in exception_classes().values()]
    checked = 0
    for title in SECTIONS:
        for span in spans(prose(title)):
            for receiver, attr in _RECEIVER.findall(span):
                if receiver == "exc":
                    assert any(hasattr(e, attr) for e in errors), f"{title}: exc.{attr}"
                else:
                    assert hasattr(objects[receiver], attr), f"{title}: {receiver}.{attr}"
                checked += 1
    assert checked >= 40


def test_format_names_are_real() -> None:
    """Every ``format="..."`` the sections mention is a format ``tokens()`` accepts."""
    named = set()
    for title in SECTIONS:
        body, _ = section(title)
        named |= set(re.findall(r'format="([^"]*)"', body))
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
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_point_at_real_headings_and_files() -> None:
    """Every ``#anchor`` the sections link to is a README heading; every relative path exists."""
    text = README.read_text(encoding="utf-8")
    anchors = {slug(h) for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)}
    checked = 0
    for title in SECTIONS:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(title)):
            if target.startswith("#"):
                assert target[1:] in anchors, f"{title}: no heading for {target}"
            elif "://" not in target:
                assert (README.parent / target).exists(), f"{title}: no file {target}"
            checked += 1
    assert checked >= 5
