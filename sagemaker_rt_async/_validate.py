"""Client-side validation of operation arguments, before any I/O (spec §2 constraints).

Every rule raises ``ParamValidationError`` naming the parameter with its snake_case name.
The service enforces the same constraints; checking them here turns a round trip and an opaque
400 into an immediate, precise error, and keeps CR/LF and non-ASCII out of HTTP headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ._errors import ParamValidationError

MAX_BODY_BYTES = 6_291_456  # 6 MiB, InvokeEndpoint and ...WithResponseStream
MAX_ASYNC_BODY_BYTES = 128_000  # InvokeEndpointAsync inline body: decimal, not 131,072

_NAME_RE = re.compile(r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*")
_COMPONENT_RE = re.compile(r"[a-zA-Z0-9](?:[\-a-zA-Z0-9]*[a-zA-Z0-9])?")
# \A\S[\p{Print}]*\z for ASCII text: a visible first character, then printable characters.
_PRINTABLE_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
# Visible US-ASCII plus space and tab (RFC 7230 field-value); no CR, LF or other controls.
_FIELD_VALUE_RE = re.compile(r"[\x20-\x7e\t]*")


def _check_str(param: str, value: object) -> str:
    if not isinstance(value, str):
        raise ParamValidationError(param, f"must be a str, not {type(value).__name__}")
    return value


def _length(param: str, value: str, low: int, high: int) -> None:
    n = len(value)
    if n < low:
        reason = "must not be empty" if low == 1 else f"must be at least {low} characters"
        raise ParamValidationError(param, reason)
    if n > high:
        raise ParamValidationError(param, f"must be at most {high} characters, got {n}")


def name(param: str, value: object, max_len: int = 63) -> str:
    """A resource name: letters, digits and inner hyphens, 1..max_len characters."""
    text = _check_str(param, value)
    _length(param, text, 1, max_len)
    if not _NAME_RE.fullmatch(text):
        raise ParamValidationError(
            param,
            f"{text!r} is not a valid name: use letters, digits and hyphens, "
            "starting and ending with a letter or digit",
        )
    return text


def component_name(param: str, value: object) -> str:
    """An inference component name (pattern ``^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$``)."""
    text = _check_str(param, value)
    _length(param, text, 1, 63)
    if not _COMPONENT_RE.fullmatch(text):
        raise ParamValidationError(param, f"{text!r} is not a valid inference component name")
    return text


def header_text(param: str, value: object, max_len: int = 1024) -> str:
    """A free-text header value: ASCII, no control characters (so no CR/LF), bounded length."""
    text = _check_str(param, value)
    _length(param, text, 0, max_len)
    if not _FIELD_VALUE_RE.fullmatch(text):
        raise ParamValidationError(
            param, "must be printable US-ASCII without control characters (no CR/LF)"
        )
    # HTTP drops whitespace around a field value on receipt and SigV4 trims it, so stripping
    # it here changes nothing the service sees; httpx (h11) refuses to send it at all.
    return text.strip(" \t")


def printable(param: str, value: object, max_len: int) -> str:
    """``\\A\\S[\\p{Print}]*\\z``: a visible first character, then printable ASCII."""
    text = _check_str(param, value)
    _length(param, text, 1, max_len)
    if not _PRINTABLE_RE.fullmatch(text):
        raise ParamValidationError(
            param,
            "must start with a visible character and contain only printable US-ASCII",
        )
    return text.rstrip(" ")  # trailing spaces never reach the service (see header_text)


def session_id(param: str, value: object, *, allow_new: bool) -> str:
    """A session id, or ``NEW_SESSION`` where the operation may open a session."""
    text = _check_str(param, value)
    if text == "NEW_SESSION":
        if not allow_new:
            raise ParamValidationError(
                param, "NEW_SESSION is only accepted by invoke_endpoint (only it opens sessions)"
            )
        return text
    return name(param, text, max_len=256)


def body(param: str, value: object, limit: int) -> bytes:
    """Bytes-like or str (sent as UTF-8), at most ``limit`` bytes."""
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParamValidationError(
                param,
                f"is text that cannot be sent as UTF-8 (a lone surrogate at index {exc.start}); "
                "pass bytes, or repair the text",
            ) from None
    elif isinstance(value, bytes):
        data = value
    elif isinstance(value, bytearray | memoryview):
        data = bytes(value)
    else:
        raise ParamValidationError(
            param, f"must be bytes, bytearray, memoryview or str, not {type(value).__name__}"
        )
    if len(data) > limit:
        raise ParamValidationError(
            param, f"is {len(data):,} bytes; the service accepts at most {limit:,} bytes"
        )
    return data


def json_body(value: Any, dumps: Callable[[Any], str] = json.dumps) -> bytes:
    """Serialise ``json=`` to compact UTF-8 JSON (strict: NaN and infinities are refused, as
    JSON has no such values and the container's parser may reject them)."""
    try:
        return dumps(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParamValidationError(
            "json", f"holds text that cannot be sent as UTF-8 (a lone surrogate): {exc.reason}"
        ) from None
    except RecursionError:
        raise ParamValidationError("json", "nests too deeply to serialise") from None
    except (TypeError, ValueError) as exc:
        raise ParamValidationError("json", f"is not JSON-serialisable: {exc}") from exc


def integer(param: str, value: object, low: int, high: int) -> int:
    """An int (not bool) within [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamValidationError(param, f"must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ParamValidationError(param, f"must be between {low} and {high}, got {value}")
    return value


_INPUT_LOCATION_RE = re.compile(r"(https|s3)://([^/]+)/?(.*)", re.DOTALL)
_PATH_EXTENSION_RE = re.compile(r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+")
_FILENAME_RE = re.compile(r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9\-_.]*")


def input_location(param: str, value: object) -> str:
    """An ``s3://bucket/key`` or ``https://`` URI of at most 1024 characters."""
    text = header_text(param, value, max_len=1024)
    if not _INPUT_LOCATION_RE.fullmatch(text):
        raise ParamValidationError(param, f"{text!r} must look like s3://bucket/key or https://...")
    return text


def s3_output_path_extension(param: str, value: object) -> str:
    """A relative S3 path appended to the endpoint's output path (1..512 characters)."""
    text = _check_str(param, value)
    _length(param, text, 1, 512)
    if not _PATH_EXTENSION_RE.fullmatch(text):
        raise ParamValidationError(
            param,
            f"{text!r} must be a relative path of letters, digits and !_.*'()/- "
            "(not an s3: or https: URI)",
        )
    return text


def filename(param: str, value: object) -> str:
    """An output file name: 1..32 characters, letters/digits/-_. and at most one dot."""
    text = _check_str(param, value)
    _length(param, text, 1, 32)
    if not _FILENAME_RE.fullmatch(text):
        raise ParamValidationError(
            param,
            f"{text!r} must start with a letter or digit, use only letters, digits, '-', '_', "
            "'.', and contain at most one dot",
        )
    return text
