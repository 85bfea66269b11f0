"""Framing of response-stream bytes: lines, SSE events, JSON lines, container-format tokens.

The central invariant (STYLE §4, spec/stream-formats.md): a PayloadPart may be cut anywhere, so
the result of a decoder must not depend on where the bytes were cut. Every fixture is fed
whole, cut at every byte offset into two pieces, byte by byte, and (hypothesis) at random cut
points; the items delivered, and the error raised after them, must be identical each time.
Errors included: the items delivered before an error are the same for every split, and a
ContainerError's ``partial_text`` is exactly the text of the tokens delivered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemaker_rt_async._errors import ParamValidationError, StreamError
from sagemaker_rt_async._framing import (
    ContainerError,
    FramingError,
    JSONLinesDecoder,
    LineDecoder,
    SSEDecoder,
    SSEEvent,
)
from sagemaker_rt_async._tokens import Token, TokenDecoder, TokenFormat, ToolCallDelta


def T(text: str, id: int | None = None, logprob: float | None = None, **kw: Any) -> Token:
    """A token as the decoders make it: ``logprobs`` holds the one ``logprob`` there is."""
    kw.setdefault("logprobs", () if logprob is None else (logprob,))
    return Token(text, id, logprob, **kw)


# ---------------------------------------------------------------------------------------------
# Harness


class Decoder(Protocol):
    def feed(self, data: bytes) -> Sequence[object]: ...

    def close(self) -> Sequence[object]: ...


@dataclass(frozen=True)
class Outcome:
    """What a caller observes: the items delivered, then the error raised (if any)."""

    items: tuple[object, ...]
    error: tuple[object, ...] | None = None


def describe(exc: StreamError) -> tuple[object, ...]:
    return (
        type(exc).__name__,
        str(exc),
        exc.error_code,
        getattr(exc, "partial_text", None),
        getattr(exc, "payload", None),
        getattr(exc, "status_code", None),
    )


def run(factory: Callable[[], Decoder], chunks: Sequence[bytes]) -> Outcome:
    decoder = factory()
    items: list[object] = []
    try:
        for chunk in chunks:
            items.extend(decoder.feed(chunk))
        items.extend(decoder.close())
    except StreamError as exc:
        error: StreamError | None = exc
    else:
        error = None
    if isinstance(error, ContainerError):
        delivered = "".join(
            t.text for t in items if isinstance(t, Token) and t.kind == "text" and not t.special
        )
        assert error.partial_text == delivered, "partial_text is the text delivered"
    return Outcome(tuple(items), None if error is None else describe(error))


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def cut_at(data: bytes, points: Sequence[int]) -> list[bytes]:
    chunks, previous = [], 0
    for point in sorted(points):
        chunks.append(data[previous:point])
        previous = point
    chunks.append(data[previous:])
    return chunks


def merge_text(outcome: Outcome) -> Outcome:
    """For raw text, chunking decides the tokens; only the text (and the error) is invariant."""
    text = "".join(t.text for t in outcome.items if isinstance(t, Token))
    return Outcome((T(text),) if text else (), outcome.error)


def assert_split_invariant(
    factory: Callable[[], Decoder],
    data: bytes,
    key: Callable[[Outcome], Outcome] = lambda o: o,
) -> Outcome:
    """Feed whole, byte by byte and cut in two at every offset; return the common outcome."""
    whole = key(run(factory, [data]))
    assert key(run(factory, bytewise(data))) == whole, "byte by byte"
    for i in range(len(data) + 1):
        assert key(run(factory, [data[:i], data[i:]])) == whole, f"cut at byte {i}"
    return whole


RANDOM_SPLITS = settings(max_examples=25, deadline=None)


def cut_points(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=24)


# ---------------------------------------------------------------------------------------------
# Fixtures: the wire shapes of spec/stream-formats.md


def js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse(*values: Any, prefix: str = "data:", eol: str = "\n", blank: bool = True) -> bytes:
    """Events as a container writes them; a str value is written as is (e.g. "[DONE]")."""
    end = eol + eol if blank else eol
    return "".join(f"{prefix}{v if isinstance(v, str) else js(v)}{end}" for v in values).encode()


def jsonl(*values: Any, eol: str = "\n") -> bytes:
    return "".join(js(v) + eol for v in values).encode()


def tgi(index: int, token_id: int, text: str, logprob: float, **final: Any) -> dict[str, Any]:
    token = {"id": token_id, "text": text, "logprob": logprob, "special": text == "</s>"}
    event: dict[str, Any] = {"index": index, "token": token, "generated_text": None}
    event["details"] = None
    event.update(final)
    return event


TGI_EVENTS = [
    tgi(1, 415, " The", -0.125),
    tgi(2, 27208, " café", -1.5),
    tgi(3, 29871, " 日本", -0.75),
    tgi(4, 243, " 🚀", -2.25),
    tgi(
        5,
        2,
        "</s>",
        -0.0625,
        generated_text=" The café 日本 🚀",
        details={"finish_reason": "eos_token", "generated_tokens": 5, "seed": None},
    ),
]
TGI_TOKENS = (
    T(" The", 415, -0.125),
    T(" café", 27208, -1.5),
    T(" 日本", 29871, -0.75),
    T(" 🚀", 243, -2.25),
    T("</s>", 2, -0.0625, special=True, finish_reason="eos_token", final=True),
)
TGI = sse(*TGI_EVENTS)
TGI_ERROR_EVENT: dict[str, str] = {
    "error": "Request failed during generation: Server error: CUDA out of memory",
    "error_type": "generation",
}
TGI_ERROR = sse(*TGI_EVENTS[:2], TGI_ERROR_EVENT)


def chunk(**choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-7",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "tgi",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": None, **choice}],
    }


OPENAI_CHUNKS = [
    chunk(delta={"role": "assistant", "content": ""}),
    chunk(delta={"reasoning_content": "The user greets in French."}),
    chunk(delta={"content": "Bonjour, café"}),
    chunk(delta={"content": " 日本"}),
    chunk(delta={"content": " 🎉"}),
    chunk(delta={"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}),
    chunk(delta={}, finish_reason="stop"),
    {"id": "chatcmpl-7", "object": "chat.completion.chunk", "choices": [], "usage": {"total": 9}},
]
OPENAI_TOKENS = (
    T("The user greets in French.", kind="reasoning"),
    T("Bonjour, café"),
    T(" 日本"),
    T(" 🎉"),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, "f", "{}"),)),
    T("", finish_reason="stop", final=True),
)
# After [DONE]: an event that is not JSON, then bytes that are not even UTF-8 — all ignored.
OPENAI = sse(*OPENAI_CHUNKS, "[DONE]", prefix="data: ") + b"data: {oops\n\n\xff\xfe junk"
OPENAI_LEGACY = sse(
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": " Hé"}]},
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": "llo"}]},
    {
        "object": "text_completion",
        "choices": [{"index": 0, "text": "!", "finish_reason": "length"}],
    },
    "[DONE]",
    prefix="data: ",
)
OPENAI_ERROR = sse(
    chunk(delta={"content": "Hi"}),
    chunk(delta={"content": " là"}),
    {"error": {"message": "The model is overloaded", "type": "server_error", "code": 503}},
    prefix="data: ",
)
VLLM_ERROR_EVENT = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
VLLM_ERROR = sse(chunk(delta={"content": "Hi"}), VLLM_ERROR_EVENT, prefix="data: ")
SSE_EVENT_ERROR = sse(chunk(delta={"content": "Hi"}), prefix="data: ") + (
    b'event: error\ndata: {"message": "upstream closed", "type": "stream_error"}\n\n'
)


def lmi(token_id: int, text: str, log_prob: float, **final: Any) -> dict[str, Any]:
    return {"token": {"id": token_id, "text": text, "log_prob": log_prob}, **final}


LMI_LINES = [
    lmi(1064, " Deep", -0.5),
    lmi(2, " café", -0.25),
    lmi(3, " 日本", -1.0),
    lmi(
        4,
        " 🚀",
        -0.5,
        generated_text=" Deep café 日本 🚀",
        details={"finish_reason": "length", "generated_tokens": 4, "inputs": "What is DL?"},
    ),
]
LMI_TOKENS = (
    T(" Deep", 1064, -0.5),
    T(" café", 2, -0.25),
    T(" 日本", 3, -1.0),
    T(" 🚀", 4, -0.5, finish_reason="length", final=True),
)
LMI = jsonl(*LMI_LINES)
LMI_ERROR_LINE = {
    "token": {"id": -1, "text": "", "log_prob": -1, "special_token": True, "error_msg": "OOM"},
    "generated_text": " Deep café",
    "details": {"finish_reason": "error"},
}
LMI_ERROR = jsonl(*LMI_LINES[:2], LMI_ERROR_LINE)
# No error_msg: generated_text is only the partial output, so the message is generic.
LMI_ERROR_BARE_LINE = {
    "token": {"id": -1, "text": "", "log_prob": -1, "special_token": True},
    "generated_text": " Deep café",
    "details": {"finish_reason": "error"},
}
# Older containers put the message in generated_text.
LMI_ERROR_OLD_LINE = {
    "token": {"id": -1, "text": "", "log_prob": -1},
    "generated_text": "Engine error: KV cache exhausted",
    "details": {"finish_reason": "error"},
}
OUTPUTS = (  # no newline after the last line
    b'{"outputs": [" Hello"]}\n'
    b'{"outputs": [" w\xc3\xb6rld", " \xe6\x97\xa5"]}\n'
    b'{"outputs": [" \xf0\x9f\x9a\x80"]}'
)
OUTPUTS_TOKENS = (T(" Hello"), T(" wörld"), T(" 日"), T(" 🚀"))
TEXT = "Hello café 日本 🚀\nsecond line\r\nno newline at the end".encode()


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    tokens: tuple[Token, ...]
    format: TokenFormat = "auto"
    content_type: str | None = None
    resolved: str = ""
    error: tuple[type[StreamError], str, str | None] | None = None  # type, message, error_code
    payload: Any = field(default=None)
    status: int | None = None  # ContainerError.status_code

    def factory(self) -> TokenDecoder:
        return TokenDecoder(self.format, content_type=self.content_type)

    def key(self, outcome: Outcome) -> Outcome:
        return merge_text(outcome) if self.resolved == "text" else outcome


TGI_ERR = (ContainerError, TGI_ERROR_EVENT["error"], "generation")
LMI_ERR_TOKENS = LMI_TOKENS[:2]
CASES = [
    Case("tgi", TGI, TGI_TOKENS, "tgi", resolved="tgi"),
    Case(
        "tgi-auto-content-type", TGI, TGI_TOKENS, content_type="text/event-stream", resolved="tgi"
    ),
    Case("tgi-auto-sniffed", TGI, TGI_TOKENS, resolved="tgi"),
    Case("tgi-crlf", sse(*TGI_EVENTS, eol="\r\n"), TGI_TOKENS, resolved="tgi"),
    Case("tgi-lone-cr", sse(*TGI_EVENTS, eol="\r"), TGI_TOKENS, resolved="tgi"),
    Case("tgi-no-final-blank-line", TGI[:-2], TGI_TOKENS, "tgi", resolved="tgi"),
    Case("tgi-keepalive-first", b":\n\n" + TGI, TGI_TOKENS, resolved="tgi"),
    Case("tgi-bom", b"\xef\xbb\xbf" + TGI, TGI_TOKENS, resolved="tgi"),
    Case(
        "tgi-blank-line-forgotten", sse(*TGI_EVENTS, blank=False), TGI_TOKENS, "tgi", resolved="tgi"
    ),
    Case(
        "tgi-error",
        TGI_ERROR,
        TGI_TOKENS[:2],
        "tgi",
        resolved="tgi",
        error=TGI_ERR,
        payload=TGI_ERROR_EVENT,
    ),
    Case(
        "tgi-error-auto",
        TGI_ERROR,
        TGI_TOKENS[:2],
        resolved="tgi",
        error=TGI_ERR,
        payload=TGI_ERROR_EVENT,
    ),
    Case("openai", OPENAI, OPENAI_TOKENS, "openai", resolved="openai"),
    Case("openai-auto", OPENAI, OPENAI_TOKENS, content_type="text/event-stream", resolved="openai"),
    Case("openai-crlf", OPENAI.replace(b"\n", b"\r\n"), OPENAI_TOKENS, resolved="openai"),
    Case(
        "openai-legacy",
        OPENAI_LEGACY,
        (T(" Hé"), T("llo"), T("!", finish_reason="length", final=True)),
        "openai",
        resolved="openai",
    ),
    Case(
        "openai-error",
        OPENAI_ERROR,
        (T("Hi"), T(" là")),
        resolved="openai",
        error=(ContainerError, "The model is overloaded", "server_error"),
        payload=json.loads(OPENAI_ERROR.split(b"\n\n")[2][6:]),
        status=503,
    ),
    Case(
        "vllm-error",
        VLLM_ERROR,
        (T("Hi"),),
        "openai",
        resolved="openai",
        error=(ContainerError, str(VLLM_ERROR_EVENT["message"]), "BadRequestError"),
        payload=VLLM_ERROR_EVENT,
        status=400,
    ),
    Case(
        "sse-event-error",
        SSE_EVENT_ERROR,
        (T("Hi"),),
        "openai",
        resolved="openai",
        error=(ContainerError, "upstream closed", "stream_error"),
        payload={"message": "upstream closed", "type": "stream_error"},
    ),
    Case("lmi", LMI, LMI_TOKENS, "lmi", resolved="lmi"),
    Case("lmi-auto", LMI, LMI_TOKENS, content_type="application/jsonlines", resolved="lmi"),
    Case("lmi-sniffed-no-final-newline", LMI[:-1], LMI_TOKENS, resolved="lmi"),
    Case("lmi-crlf", jsonl(*LMI_LINES, eol="\r\n"), LMI_TOKENS, resolved="lmi"),
    Case(
        "lmi-error",
        LMI_ERROR,
        LMI_ERR_TOKENS,
        "lmi",
        resolved="lmi",
        error=(ContainerError, "OOM", None),
        payload=LMI_ERROR_LINE,
    ),
    Case(
        "lmi-error-bare",
        jsonl(*LMI_LINES[:2], LMI_ERROR_BARE_LINE),
        LMI_ERR_TOKENS,
        resolved="lmi",
        error=(
            ContainerError,
            "the model container ended the stream with finish_reason=error",
            None,
        ),
        payload=LMI_ERROR_BARE_LINE,
    ),
    Case(
        "lmi-error-message-in-generated-text",
        jsonl(*LMI_LINES[:2], LMI_ERROR_OLD_LINE),
        LMI_ERR_TOKENS,
        resolved="lmi",
        error=(ContainerError, "Engine error: KV cache exhausted", None),
        payload=LMI_ERROR_OLD_LINE,
    ),
    # The spec's shape: `data:` lines with no blank line between them.
    Case("lmi-sse", sse(*LMI_LINES, blank=False), LMI_TOKENS, "lmi-sse", resolved="lmi-sse"),
    Case("lmi-sse-auto", sse(*LMI_LINES, blank=False), LMI_TOKENS, resolved="lmi-sse"),
    Case(
        "lmi-sse-blank-lines",
        sse(*LMI_LINES, prefix="data: "),
        LMI_TOKENS,
        content_type="text/event-stream",
        resolved="lmi-sse",
    ),
    Case(
        "lmi-sse-error",
        sse(*LMI_LINES[:2], LMI_ERROR_LINE, blank=False),
        LMI_ERR_TOKENS,
        resolved="lmi-sse",
        error=(ContainerError, "OOM", None),
        payload=LMI_ERROR_LINE,
    ),
    Case("outputs", OUTPUTS, OUTPUTS_TOKENS, "outputs", resolved="outputs"),
    Case(
        "outputs-auto",
        OUTPUTS,
        OUTPUTS_TOKENS,
        content_type="application/x-ndjson",
        resolved="outputs",
    ),
    Case("text", TEXT, (T(TEXT.decode()),), "text", resolved="text"),
    Case("text-auto", TEXT, (T(TEXT.decode()),), content_type="text/plain", resolved="text"),
    Case("text-sniffed", TEXT, (T(TEXT.decode()),), resolved="text"),
]


def expected(case: Case) -> Outcome:
    if case.error is None:
        return Outcome(case.tokens)
    kind, message, code = case.error
    partial = "".join(t.text for t in case.tokens if t.kind == "text" and not t.special)
    text = f"{code}: {message}" if code else message
    status = case.status if kind is ContainerError else None
    return Outcome(case.tokens, (kind.__name__, text, code, partial, case.payload, status))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_container_format_every_split(case: Case) -> None:
    """Whole, byte-by-byte and every two-piece cut give the expected tokens, then the error."""
    outcome = assert_split_invariant(case.factory, case.data, case.key)
    assert outcome == expected(case)
    decoder = case.factory()
    decoder.feed(case.data)
    assert decoder.format == case.resolved


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@RANDOM_SPLITS
@given(data=st.data())
def test_container_format_random_splits(case: Case, data: st.DataObject) -> None:
    """Random cut points (empty chunks included) give the same outcome as whole feeding."""
    points = data.draw(cut_points(case.data))
    assert case.key(run(case.factory, cut_at(case.data, points))) == expected(case)


# ---------------------------------------------------------------------------------------------
# LineDecoder

LINE_CASES = [
    (b"", []),
    (b"\n", [""]),
    (b"a\nb\n", ["a", "b"]),
    (b"a\r\nb\r\n", ["a", "b"]),
    (b"a\rb\r", ["a", "b"]),
    (b"a\r\r\nb", ["a", "", "b"]),
    (b"a\n\r\n\rb", ["a", "", "", "b"]),
    (b"\r\n\r\n", ["", ""]),
    (b"no newline at the end", ["no newline at the end"]),
    (b"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80\r\n\xc3\xa9", ["café 日本 🚀", "é"]),
    # str.splitlines() would cut at each of these; a stream line does not.
    (
        b"v\x0bf\x0cfs\x1cnel\xc2\x85ls\xe2\x80\xa8ps\xe2\x80\xa9.\n",
        ["v\vf\ffs\x1cnel\x85ls\u2028ps\u2029."],
    ),
]


@pytest.mark.parametrize(("data", "lines"), LINE_CASES)
def test_lines_every_split(data: bytes, lines: list[str]) -> None:
    """\\n, \\r\\n and lone \\r end lines, wherever the chunks are cut; nothing else does."""
    assert assert_split_invariant(LineDecoder, data) == Outcome(tuple(lines))


def test_cr_at_chunk_end_ends_the_line_at_once() -> None:
    """A CR closing a chunk delivers its line now; an LF opening the next chunk is swallowed."""
    decoder = LineDecoder()
    assert decoder.feed(b"first\r") == ["first"]
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\nsecond\r") == ["second"]
    assert decoder.feed(b"\r") == [""]  # CR CR: the second ends an empty line
    assert decoder.feed(b"third") == []
    assert decoder.close() == ["third"]


LINE_ERRORS = [
    (b"ok\n\xff\nnever\n", "invalid UTF-8"),
    (b"ok\nA\xc3(\n", "invalid UTF-8"),
    (b"ok\n\xed\xa0\x80\n", "invalid UTF-8"),  # an encoded surrogate
    (b"ok\n\xc0\xaf\n", "invalid UTF-8"),  # an overlong encoding of "/"
    (b"ok\n\xe6\x97\n", "a line ends inside a UTF-8 character"),
    (b"ok\n\xe6\x97", "the stream ends inside a UTF-8 character"),
]


@pytest.mark.parametrize(("data", "message"), LINE_ERRORS)
def test_invalid_utf8_is_a_framing_error(data: bytes, message: str) -> None:
    """Invalid UTF-8 raises FramingError after the lines before it, for every split."""
    outcome = assert_split_invariant(LineDecoder, data)
    assert outcome.items == ("ok",)
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"
    assert message in str(outcome.error[1])


def test_line_limit_counts_bytes_and_fails_before_the_newline() -> None:
    """max_line_length bounds the buffered bytes of one line (terminator excluded)."""
    assert LineDecoder(8).feed(b"12345678\r\n\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n") == [
        "12345678",
        "éééé",
    ]
    with pytest.raises(FramingError, match="longer than 8 bytes"):
        LineDecoder(8).feed(b"123456789")  # no newline needed: the buffer is what is bounded
    with pytest.raises(FramingError, match="longer than 8 bytes"):
        LineDecoder(8).feed("ééééé".encode())
    outcome = assert_split_invariant(lambda: LineDecoder(8), b"ok\n123456789\nnever\n")
    assert outcome.items == ("ok",)
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"


def test_errors_are_deferred_then_sticky() -> None:
    """Lines before an error in the same chunk are returned; the error comes next, for good."""
    decoder = LineDecoder()
    assert decoder.feed(b"one\ntwo\n\xff") == ["one", "two"]
    with pytest.raises(FramingError) as first:
        decoder.feed(b"more\n")
    with pytest.raises(FramingError) as again:
        decoder.close()
    assert again.value is first.value


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_limit_is_rejected(bad: Any) -> None:
    """A max_line_length that is not a positive int is a ParamValidationError."""
    with pytest.raises(ParamValidationError):
        LineDecoder(bad)


# ---------------------------------------------------------------------------------------------
# SSEDecoder


def ev(
    data: str, event: str | None = None, id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


SSE_CASES = [
    ("space after colon", b"data: x\n\n", [ev("x")]),
    ("no space", b"data:x\n\n", [ev("x")]),
    ("only one space removed", b"data:  x\n\n", [ev(" x")]),
    ("multi-line data", b"data: a\ndata:\ndata: b\n\n", [ev("a\n\nb")]),
    ("comments ignored", b": keep-alive\ndata: x\n:another\n\n", [ev("x")]),
    ("event type", b"event: token\ndata: x\n\n", [ev("x", "token")]),
    ("event type resets", b"event: a\ndata: x\n\ndata: y\n\n", [ev("x", "a"), ev("y")]),
    ("no data, no event", b"event: a\n\n\n\ndata: y\n\n", [ev("y")]),
    ("field without colon", b"data\n\n", [ev("")]),
    ("empty data", b"data:\n\n", [ev("")]),
    ("id persists", b"id: 7\ndata: x\n\ndata: y\n\n", [ev("x", id="7"), ev("y", id="7")]),
    (
        "id with NUL ignored",
        b"id: 1\ndata: x\n\nid: a\x00b\ndata: y\n\n",
        [ev("x", id="1"), ev("y", id="1")],
    ),
    (
        "retry",
        b"retry: 3000\ndata: x\n\nretry: 3s\ndata: y\n\n",
        [ev("x", retry=3000), ev("y", retry=3000)],
    ),
    ("huge retry ignored", b"retry: " + b"9" * 5000 + b"\ndata: x\n\n", [ev("x")]),
    ("unknown field", b"foo: bar\ndata: x\n\n", [ev("x")]),
    ("colon in value", b'data: {"a": "b:c"}\n\n', [ev('{"a": "b:c"}')]),
    ("crlf", b"event: e\r\ndata: x\r\n\r\ndata: y\r\n\r\n", [ev("x", "e"), ev("y")]),
    ("lone cr", b"data: x\r\rdata: y\r\r", [ev("x"), ev("y")]),
    ("mixed endings", b"data: a\r\ndata: b\rdata: c\n\r\n", [ev("a\nb\nc")]),
    ("bom", b"\xef\xbb\xbfdata: x\n\n", [ev("x")]),
    ("bom only at the start", b"data: x\n\n\xef\xbb\xbfdata: y\n\n", [ev("x")]),
    ("unicode", "data: café 日本 🚀\n\n".encode(), [ev("café 日本 🚀")]),
    ("close dispatches pending", b"data: x\n\ndata: y\n", [ev("x"), ev("y")]),
    ("close flushes last line", b"data: x\n\ndata: y", [ev("x"), ev("y")]),
    ("close without data", b"data: x\n\nevent: e\n", [ev("x")]),
]


@pytest.mark.parametrize(
    ("data", "events"), [c[1:] for c in SSE_CASES], ids=[c[0] for c in SSE_CASES]
)
def test_sse_every_split(data: bytes, events: list[SSEEvent]) -> None:
    """The WHATWG event-stream rules hold for every split of the stream."""
    assert assert_split_invariant(SSEDecoder, data) == Outcome(tuple(events))


@RANDOM_SPLITS
@given(points=cut_points(TGI))
def test_sse_random_splits(points: list[int]) -> None:
    """A real TGI stream gives one event per token whatever the cuts."""
    events = run(SSEDecoder, cut_at(TGI, points)).items
    assert [json.loads(e.data) for e in events if isinstance(e, SSEEvent)] == TGI_EVENTS


def test_sse_event_size_is_bounded() -> None:
    """Data lines without a blank line cannot grow one event past the limit."""
    decoder = SSEDecoder(max_line_length=64)
    assert decoder.feed((b"data: " + b"x" * 20 + b"\n") * 3) == []  # 3 x 21 characters
    with pytest.raises(FramingError, match="longer than 64"):
        decoder.feed(b"data: " + b"x" * 20 + b"\n")


# ---------------------------------------------------------------------------------------------
# JSONLinesDecoder


def test_json_lines_every_split() -> None:
    """One value per non-blank line; blank lines and a leading BOM are skipped."""
    data = b'\xef\xbb\xbf{"a": 1}\n\n  \n[1, 2]\r\n"caf\xc3\xa9"\n3'
    outcome = assert_split_invariant(JSONLinesDecoder, data)
    assert outcome == Outcome(({"a": 1}, [1, 2], "café", 3))


def test_json_lines_invalid_line() -> None:
    """A line that is not JSON is a FramingError quoting the line, clipped to 200 characters."""
    outcome = assert_split_invariant(JSONLinesDecoder, b'{"a": 1}\n{"b":\n{"c": 3}\n')
    assert outcome.items == ({"a": 1},)
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"
    assert '{"b":' in str(outcome.error[1])
    with pytest.raises(FramingError) as caught:
        JSONLinesDecoder().feed(b"y" * 1000 + b"\n")
    message = str(caught.value)
    assert "y" * 200 in message
    assert "y" * 201 not in message
    assert "1000 characters" in message


# ---------------------------------------------------------------------------------------------
# TokenDecoder: detection, errors, decisions

DETECTION = [
    ("text/event-stream", TGI, "tgi"),
    ("text/event-stream; charset=utf-8", OPENAI, "openai"),
    ("TEXT/EVENT-STREAM", sse(*LMI_LINES), "lmi-sse"),
    ("application/jsonlines", LMI, "lmi"),
    ("application/x-ndjson", OUTPUTS, "outputs"),
    ("application/jsonlines", jsonl(chunk(delta={"content": "x"})), "openai"),  # LMI chat
    ("text/plain", LMI, "text"),  # the content type wins over the bytes
    ("application/json", LMI, "lmi"),  # not a streaming type: sniffed
    (None, TGI, "tgi"),
    (None, b"\n\n  " + OPENAI, "openai"),
    (None, b"\xef\xbb\xbf" + LMI, "lmi"),
    (None, OUTPUTS, "outputs"),
    (None, b"event: message\n" + TGI, "tgi"),
    (None, b"id: 1\n" + TGI, "tgi"),
    (None, b"retry: 10\n" + TGI, "tgi"),
    (None, b'data: {"status": "loading"}\n\n' + TGI, "tgi"),  # first recognisable value decides
    (None, b"Hello", "text"),
    (None, b"data is text", "text"),
]


@pytest.mark.parametrize(("content_type", "data", "resolved"), DETECTION)
def test_auto_detection(content_type: str | None, data: bytes, resolved: str) -> None:
    """format="auto" resolves from the content type first, else from the first bytes."""
    whole = TokenDecoder(content_type=content_type)
    tokens = whole.feed(data) + whole.close()
    assert whole.format == resolved
    assert tokens
    key = merge_text if resolved == "text" else (lambda o: o)
    bytes_run = run(lambda: TokenDecoder(content_type=content_type), bytewise(data))
    assert key(bytes_run) == key(Outcome(tuple(tokens)))


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"da", "da"),
        (b"  \r\n", "  \r\n"),
        (b"\xef\xbb", None),
        (b"\xef\xbb\xbf", "\ufeff"),
    ],
)
def test_auto_detection_when_the_stream_ends_first(data: bytes, text: str | None) -> None:
    """Until the first bytes can tell, nothing is delivered; close() decides with what it has."""
    decoder = TokenDecoder()
    assert decoder.feed(data) == []
    assert decoder.format == "auto"
    if text is None:  # half a BOM: an incomplete UTF-8 character at the end of the text
        with pytest.raises(FramingError, match="ends inside"):
            decoder.close()
        return
    assert "".join(t.text for t in decoder.close()) == text
    assert decoder.format == "text"


def test_auto_detection_gives_up_on_a_whitespace_flood() -> None:
    """Four KiB of leading whitespace is text: the sniffer does not buffer without bound."""
    decoder = TokenDecoder()
    assert decoder.feed(b" " * 4095) == []
    assert [t.text for t in decoder.feed(b"  ")] == [" " * 4097]
    assert decoder.format == "text"


def test_explicit_format_frames_from_the_bytes() -> None:
    """An explicit "tgi"/"openai" still reads JSON lines (DJL-LMI's TGI-compatible output)."""
    compat = jsonl(*TGI_EVENTS)
    for content_type in (None, "application/jsonlines", "text/plain"):
        decoder = TokenDecoder("tgi", content_type=content_type)
        assert tuple(decoder.feed(compat) + decoder.close()) == TGI_TOKENS
    decoder = TokenDecoder("tgi", content_type="text/plain")  # a mislabelled SSE stream
    assert tuple(decoder.feed(TGI) + decoder.close()) == TGI_TOKENS


def test_tgi_text_leaves_out_special_tokens() -> None:
    """Special tokens are yielded (special=True) but not part of .text, like generated_text."""
    decoder = TokenDecoder("tgi")
    tokens = decoder.feed(TGI) + decoder.close()
    assert tokens[-1] == T("</s>", 2, -0.0625, special=True, finish_reason="eos_token", final=True)
    assert decoder.text == " The café 日本 🚀"
    assert tokens[0].raw == TGI_EVENTS[0]


def test_container_error_is_raised_after_the_tokens_of_its_chunk() -> None:
    """Tokens before an error in one chunk are returned; the error is raised next, and stays."""
    decoder = TokenDecoder("tgi")
    assert tuple(decoder.feed(TGI_ERROR)) == TGI_TOKENS[:2]
    with pytest.raises(ContainerError) as caught:
        decoder.close()
    error = caught.value
    assert error.partial_text == decoder.text == " The café"
    assert error.payload == TGI_ERROR_EVENT
    assert error.error_code == "generation"
    assert isinstance(error, StreamError)
    assert not error.retryable
    with pytest.raises(ContainerError) as again:
        decoder.feed(b"data: more\n\n")
    assert again.value is error


def test_close_cannot_defer_so_undelivered_text_is_not_partial() -> None:
    """If close() finds tokens then an error, it raises; partial_text keeps only delivered text."""
    data = sse(TGI_EVENTS[0], blank=False) + b'data:{"error":"boom"}'
    decoder = TokenDecoder("tgi")
    assert decoder.feed(data) == []  # the event has no blank line yet
    with pytest.raises(ContainerError) as caught:
        decoder.close()
    assert caught.value.partial_text == decoder.text == ""


def test_blank_line_repair_streams_one_event_late() -> None:
    """A server that omits blank lines still streams: each event is released by the next one."""
    first, second = (sse(e, blank=False) for e in TGI_EVENTS[:2])
    decoder = TokenDecoder("tgi")
    assert decoder.feed(first) == []
    assert decoder.feed(second) == [TGI_TOKENS[0]]
    assert decoder.close() == [TGI_TOKENS[1]]
    # Multi-line data that is one JSON value is still joined, as SSE says.
    decoder = TokenDecoder("tgi")
    multi = b'data:{"token":\ndata: {"id": 1, "text": "x"}}\n\n'
    assert decoder.feed(multi) + decoder.close() == [T("x", 1)]


UNKNOWN_SHAPES = [
    ("tgi", sse(TGI_EVENTS[0], {"ping": 1}, 42, [1], TGI_EVENTS[1]), TGI_TOKENS[:2]),
    ("openai", sse(chunk(delta={"content": "a"}), {"object": "meta"}, "[DONE]"), (T("a"),)),
    ("lmi", jsonl(LMI_LINES[0], {"status": "warming"}, LMI_LINES[1]), LMI_TOKENS[:2]),
    (
        "outputs",
        b'{"outputs": [" a"]}\n{"other": 1}\n{"outputs": " b"}\n',
        (T(" a"), T(" b")),
    ),
    ("auto", sse({"status": "loading"}, *TGI_EVENTS), TGI_TOKENS),
]


@pytest.mark.parametrize(("fmt", "data", "tokens"), UNKNOWN_SHAPES)
def test_unknown_json_shapes_are_skipped(
    fmt: TokenFormat, data: bytes, tokens: tuple[Token, ...]
) -> None:
    """A JSON value of an unknown shape is skipped (servers add metadata events over time)."""
    assert assert_split_invariant(lambda: TokenDecoder(fmt), data) == Outcome(tokens)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("tgi", OPENAI),  # the wrong format: nothing would ever match
        ("openai", TGI),
        ("lmi", OUTPUTS),
        ("auto", sse({"status": "loading"}, {"status": "ready"})),
    ],
)
def test_a_stream_where_nothing_matched_is_an_error(fmt: TokenFormat, data: bytes) -> None:
    """Values arrived but none matched the format: FramingError at close, not a silent nothing."""
    outcome = assert_split_invariant(lambda: TokenDecoder(fmt), data)
    assert outcome.items == ()
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"
    assert "matched" in str(outcome.error[1])


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("tgi", sse(TGI_EVENTS[0], "hello there")),
        ("openai", sse(chunk(delta={"content": "a"}), "{truncated")),
        ("lmi", jsonl(LMI_LINES[0]) + b"not json\n"),
        ("auto", jsonl(LMI_LINES[0]) + b"{broken\n"),
    ],
)
def test_text_where_json_is_required_is_a_framing_error(fmt: TokenFormat, data: bytes) -> None:
    """Non-JSON data in a JSON format raises FramingError after the tokens before it."""
    outcome = assert_split_invariant(lambda: TokenDecoder(fmt), data)
    assert len(outcome.items) == 1
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"
    assert "expected a JSON value" in str(outcome.error[1])


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("text", b"caf\xc3\xa9 \xff", "invalid UTF-8"),
        ("text", b"caf\xc3\xa9 \xe6\x97", "the stream ends inside"),
        ("tgi", TGI[:100] + b"\xc3(" + TGI[100:], "invalid UTF-8"),
        ("lmi", LMI[:-1] + b"\xe6\x97", "ends inside"),
    ],
)
def test_invalid_utf8_in_a_container_stream(fmt: TokenFormat, data: bytes, message: str) -> None:
    """Invalid or truncated UTF-8 is a FramingError in every format, for every split."""
    key = merge_text if fmt == "text" else (lambda o: o)
    outcome = assert_split_invariant(lambda: TokenDecoder(fmt), data, key)
    assert outcome.error is not None
    assert outcome.error[0] == "FramingError"
    assert message in str(outcome.error[1])


def test_over_long_line_in_a_container_stream() -> None:
    """A container line longer than max_line_length is a FramingError, before it ends."""
    decoder = TokenDecoder("lmi", max_line_length=64)
    assert decoder.feed(jsonl({"token": {"id": 1, "text": "ok"}})) == [T("ok", 1)]
    with pytest.raises(FramingError, match="longer than 64 bytes"):
        decoder.feed(b'{"token": {"id": 2, "text": "' + b"x" * 100)


OPENAI_DETAILS = [
    (  # n > 1: choice 1 would interleave with choice 0
        [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}],
        [T("A")],
    ),
    (  # content and finish_reason in one chunk
        [{"index": 0, "delta": {"content": "end"}, "finish_reason": "length"}],
        [T("end", finish_reason="length", final=True)],
    ),
    (  # chat logprobs
        [{"index": 0, "delta": {"content": "a"}, "logprobs": {"content": [{"logprob": -0.5}]}}],
        [T("a", logprob=-0.5)],
    ),
    (  # legacy completions logprobs
        [{"index": 0, "text": "a", "logprobs": {"token_logprobs": [-0.25]}}],
        [T("a", logprob=-0.25)],
    ),
    (  # DJL-LMI jsonlines_chat wraps the logprobs object in a list
        [{"index": 0, "delta": {"content": "a"}, "logprobs": [{"content": [{"logprob": -1}]}]}],
        [T("a", logprob=-1.0)],
    ),
    ([{"index": 0, "delta": {"content": None}}], []),
    ([{"index": 0, "delta": {"role": "assistant"}}], []),
]


@pytest.mark.parametrize(("choices", "tokens"), OPENAI_DETAILS)
def test_openai_choice_rules(choices: list[dict[str, Any]], tokens: list[Token]) -> None:
    """Only choice 0 is followed; text from delta.content or text; finish_reason always kept."""
    decoder = TokenDecoder("openai")
    data = sse({"object": "chat.completion.chunk", "choices": choices}, "[DONE]")
    assert decoder.feed(data) + decoder.close() == tokens


def test_done_ends_every_json_format() -> None:
    """[DONE] ends the stream in any JSON format; what follows is never decoded."""
    decoder = TokenDecoder("lmi-sse")
    data = sse(LMI_LINES[0], "[DONE]", blank=False) + b"\xff\xff\n"
    assert decoder.feed(data) == [LMI_TOKENS[0]]
    assert decoder.feed(b"data: anything\n") == []
    assert decoder.close() == []


def test_bad_format_is_rejected() -> None:
    """An unknown format name is a ParamValidationError naming the parameter."""
    with pytest.raises(ParamValidationError) as caught:
        TokenDecoder("bedrock-runtime")  # type: ignore[arg-type]
    assert caught.value.param == "format"


def test_container_error_is_a_stream_error_with_its_attributes() -> None:
    """ContainerError carries StreamError's fields plus partial_text and payload."""
    error = ContainerError("boom", partial_text="so far", payload={"error": "boom"}, request_id="r")
    assert (error.message, error.partial_text, error.payload) == (
        "boom",
        "so far",
        {"error": "boom"},
    )
    assert str(error) == "boom (request_id=r)"
    assert (error.parts_received, error.bytes_received) == (0, 0)
