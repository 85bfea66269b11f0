"""The wire shape of each operation: its path suffix and how each member maps to a header.

One table per operation, straight from the service model (spec §2): the snake_case parameter,
the HTTP header it travels in, and the rule that validates it. Note the differences between
operations: ``accept`` is ``Accept`` for InvokeEndpoint but ``X-Amzn-SageMaker-Accept`` for the
other two, and InvokeEndpointAsync moves ``content_type`` into ``X-Amzn-SageMaker-Content-Type``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from . import _validate as v
from ._errors import ParamValidationError

__all__ = [
    "CHAT_COMPLETIONS",
    "INVOKE_ENDPOINT",
    "INVOKE_ENDPOINT_ASYNC",
    "INVOKE_ENDPOINT_BIDI",
    "INVOKE_ENDPOINT_STREAM",
    "Operation",
]

Rule = Callable[[str, object], object]


@dataclass(frozen=True, slots=True)
class Member:
    """One request member carried in a header."""

    param: str
    header: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation's name, path suffix and header members."""

    name: str
    suffix: str
    members: tuple[Member, ...]

    def headers(self, values: Mapping[str, object]) -> list[tuple[str, str]]:
        """Validate the given members and return their headers (members set to None are absent)."""
        out: list[tuple[str, str]] = []
        for member in self.members:
            value = values.get(member.param)
            if value is None:
                continue
            checked = member.rule(member.param, value)
            out.append((member.header, str(checked)))
        return out


_text = v.header_text
_name = v.name
_id64 = partial(v.printable, max_len=64)
_target_model = partial(v.printable, max_len=1024)
_component = v.component_name


def _explanations(param: str, value: object) -> str:
    text = v.header_text(param, value, max_len=64)
    if not text:
        raise ParamValidationError(param, "must not be empty")
    return text


_CONTENT_TYPE = Member("content_type", "Content-Type", _text)
_CUSTOM = Member("custom_attributes", "X-Amzn-SageMaker-Custom-Attributes", _text)
_VARIANT = Member("target_variant", "X-Amzn-SageMaker-Target-Variant", _name)
_HOSTNAME = Member("target_container_hostname", "X-Amzn-SageMaker-Target-Container-Hostname", _name)
_INFERENCE_ID = Member("inference_id", "X-Amzn-SageMaker-Inference-Id", _id64)
_COMPONENT = Member("inference_component_name", "X-Amzn-SageMaker-Inference-Component", _component)
_PREFIX = Member("prefix_aware_id", "X-Amzn-SageMaker-Prefix-Aware-Id", _id64)
_SAGEMAKER_ACCEPT = Member("accept", "X-Amzn-SageMaker-Accept", _text)

INVOKE_ENDPOINT = Operation(
    "InvokeEndpoint",
    "invocations",
    (
        _CONTENT_TYPE,
        Member("accept", "Accept", _text),
        _CUSTOM,
        Member("target_model", "X-Amzn-SageMaker-Target-Model", _target_model),
        _VARIANT,
        _HOSTNAME,
        _INFERENCE_ID,
        Member("enable_explanations", "X-Amzn-SageMaker-Enable-Explanations", _explanations),
        _COMPONENT,
        Member("session_id", "X-Amzn-SageMaker-Session-Id", partial(v.session_id, allow_new=True)),
        _PREFIX,
    ),
)

INVOKE_ENDPOINT_STREAM = Operation(
    "InvokeEndpointWithResponseStream",
    "invocations-response-stream",
    (
        _CONTENT_TYPE,
        _SAGEMAKER_ACCEPT,
        _CUSTOM,
        _VARIANT,
        _HOSTNAME,
        _INFERENCE_ID,
        _COMPONENT,
        Member("session_id", "X-Amzn-SageMaker-Session-Id", partial(v.session_id, allow_new=False)),
        _PREFIX,
    ),
)

INVOKE_ENDPOINT_ASYNC = Operation(
    "InvokeEndpointAsync",
    "async-invocations",
    (
        Member("content_type", "X-Amzn-SageMaker-Content-Type", _text),
        _SAGEMAKER_ACCEPT,
        _CUSTOM,
        _INFERENCE_ID,
        Member("input_location", "X-Amzn-SageMaker-InputLocation", v.input_location),
        Member(
            "s3_output_path_extension",
            "X-Amzn-SageMaker-S3OutputPathExtension",
            v.s3_output_path_extension,
        ),
        Member("filename", "X-Amzn-SageMaker-Filename", v.filename),
        Member(
            "request_ttl_seconds",
            "X-Amzn-SageMaker-RequestTTLSeconds",
            partial(v.integer, low=60, high=21_600),
        ),
        Member(
            "invocation_timeout_seconds",
            "X-Amzn-SageMaker-InvocationTimeoutSeconds",
            partial(v.integer, low=1, high=3_600),
        ),
    ),
)

# The OpenAI-compatible route (spec openai-compatible.md §2, §4): a bearer token, no SageMaker
# member headers (the inference component travels in the path), a plain JSON body.
CHAT_COMPLETIONS = Operation(
    "ChatCompletions",
    "openai/v1/chat/completions",
    (_CONTENT_TYPE, Member("accept", "Accept", _text)),
)

# InvokeEndpointWithBidirectionalStream's own members (bidirectional-stream spec §3, [JSM]).
_INVOCATION_PATH_RE = re.compile(r"[A-Za-z0-9\-._]+(?:/[A-Za-z0-9\-._]+)*", re.ASCII)
_QUERY_PAIR = r"[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~\-]|%[0-9A-Fa-f]{2})+"
_QUERY_STRING_RE = re.compile(rf"{_QUERY_PAIR}(?:&{_QUERY_PAIR})*", re.ASCII)


def _patterned(pattern: re.Pattern[str], max_len: int, hint: str) -> Rule:
    def check(param: str, value: object) -> str:
        if not isinstance(value, str):
            raise ParamValidationError(param, f"must be a str, not {type(value).__name__}")
        if not 1 <= len(value) <= max_len:
            raise ParamValidationError(param, f"must be 1 to {max_len} characters")
        if pattern.fullmatch(value) is None:
            raise ParamValidationError(param, f"{value!r} is not valid: {hint}")
        return value

    return check


INVOKE_ENDPOINT_BIDI = Operation(
    "InvokeEndpointWithBidirectionalStream",
    "invocations-bidirectional-stream",
    (
        _VARIANT,
        Member(
            "model_invocation_path",
            "X-Amzn-SageMaker-Model-Invocation-Path",
            _patterned(
                _INVOCATION_PATH_RE,
                100,
                "segments of letters, digits, '-', '.', '_' joined by '/', no leading '/'",
            ),
        ),
        Member(
            "model_query_string",
            "X-Amzn-SageMaker-Model-Query-String",
            _patterned(
                _QUERY_STRING_RE,
                2048,
                "key=value pairs joined by '&', values percent-encoded and not empty",
            ),
        ),
    ),
)
