"""SigV4 signer: the two AWS suites, the SageMaker worked example, and botocore as an oracle.

Vector layout and parsing rules: ../shared/vectors/README.md §2 (aws-c-auth-v4) and §3
(botocore-aws4_testsuite). SageMaker values: spec §5.2–§5.4.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from conftest import VECTORS
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemaker_rt_async import _sigv4 as sigv4
from sagemaker_rt_async._errors import ParamValidationError

C_AUTH = "sigv4/aws-c-auth-v4"
BOTO = "sigv4/botocore-aws4_testsuite"

# The one key pair both AWS suites (and spec §5.3) use.
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
UTC = timezone.utc


def _case_dirs(suite: str, marker: str) -> list[str]:
    """Case folders of a suite relative to its root; empty when the vectors are absent."""
    root = VECTORS / suite
    if not root.is_dir():
        return []
    return sorted(str(p.parent.relative_to(root).as_posix()) for p in root.rglob(marker))


C_AUTH_CASES = _case_dirs(C_AUTH, "context.json")
BOTO_CASES = _case_dirs(BOTO, "*.req")


# --- parsing the raw HTTP text of the suites (README §2 "Parsing request.txt") ---------------


@dataclass(frozen=True)
class RawRequest:
    """One request file: request line split at the first space, headers unfolded, body."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    head_lines: list[str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name]
        return values[0].strip() if values else None


def parse_request(data: bytes) -> RawRequest:
    """Parse LF-terminated HTTP/1.1 text; the target may hold spaces and raw UTF-8."""
    text = data.decode("utf-8")
    head, sep, body = text.partition("\n\n")
    if not sep:
        head = head.rstrip("\n")
    lines = head.split("\n")
    method, _, target = lines[0].partition(" ")
    target = target.removesuffix(" HTTP/1.1")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            # obs-fold: the continuation line joins the previous value with one space.
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return RawRequest(method, target, headers, lines, body.encode("utf-8"))


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _c_auth_inputs(case_dir: Path) -> tuple[dict[str, Any], RawRequest, dict[str, Any]]:
    """context.json + request.txt -> (context, request, keyword arguments shared by both modes)."""
    ctx: dict[str, Any] = json.loads(_text(case_dir / "context.json"))
    req = parse_request((case_dir / "request.txt").read_bytes())
    creds = ctx["credentials"]
    # sign_body false means the empty-string hash even for a request with a body (README §2).
    payload_hash = sigv4.sha256_hex(req.body) if ctx["sign_body"] else sigv4.EMPTY_SHA256
    kwargs: dict[str, Any] = {
        "method": req.method,
        "path": req.path,
        "headers": req.headers,
        "payload_hash": payload_hash,
        "access_key": creds["access_key_id"],
        "secret_key": creds["secret_access_key"],
        "session_token": creds.get("token"),
        "region": ctx["region"],
        "service": ctx["service"],
        "now": datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        "query": sigv4.parse_query(req.query),
        "normalize_path": ctx["normalize"],
        # The harness double-encodes in every case; the raw path needs exactly one pass.
        "encode_path": True,
        "omit_session_token": ctx.get("omit_session_token", False),
    }
    return ctx, req, kwargs


# --- aws-c-auth-v4: 38 cases, header and query signing ------------------------------------


def test_suites_are_complete(vectors_dir: Path) -> None:
    """Discovery finds every case the README counts: 38 aws-c-auth-v4 and 34 botocore cases."""
    assert vectors_dir == VECTORS
    assert len(C_AUTH_CASES) == 38
    assert len(BOTO_CASES) == 34


@pytest.mark.parametrize("case", C_AUTH_CASES)
def test_c_auth_header_signing(vectors_dir: Path, case: str) -> None:
    """Header signing reproduces canonical request, string to sign, signature and added headers.

    The added headers are exactly the lines header-signed-request.txt appends to request.txt
    (its order is token, date, sha256, Authorization; ours puts X-Amz-Date first: compared as
    sets, names and values byte for byte).
    """
    case_dir = vectors_dir / C_AUTH / case
    ctx, req, kwargs = _c_auth_inputs(case_dir)
    result = sigv4.build_header_signature(**kwargs, add_content_sha256=ctx["sign_body"])

    assert result.canonical_request == _text(case_dir / "header-canonical-request.txt")
    assert result.string_to_sign == _text(case_dir / "header-string-to-sign.txt")
    assert result.signature == _text(case_dir / "header-signature.txt")

    signed = parse_request((case_dir / "header-signed-request.txt").read_bytes())
    n = len(req.head_lines)
    assert signed.head_lines[:n] == req.head_lines
    appended = [tuple(line.split(":", 1)) for line in signed.head_lines[n:]]
    assert sorted(appended) == sorted(result.added)
    assert signed.body == req.body
    assert sigv4.sign_headers(**kwargs, add_content_sha256=ctx["sign_body"]) == list(result.added)


@pytest.mark.parametrize("case", C_AUTH_CASES)
def test_c_auth_query_signing(vectors_dir: Path, case: str) -> None:
    """Query signing reproduces canonical request, string to sign, signature and the URL.

    The signed URL is the original target followed by the returned parameters, in the returned
    order, each key and value encoded with uri_encode; headers and body are unchanged.
    """
    case_dir = vectors_dir / C_AUTH / case
    ctx, req, kwargs = _c_auth_inputs(case_dir)
    result = sigv4.build_query_signature(**kwargs, expires=ctx["expiration_in_seconds"])

    assert result.canonical_request == _text(case_dir / "query-canonical-request.txt")
    assert result.string_to_sign == _text(case_dir / "query-string-to-sign.txt")
    assert result.signature == _text(case_dir / "query-signature.txt")

    signed = parse_request((case_dir / "query-signed-request.txt").read_bytes())
    appended = "&".join(f"{sigv4.uri_encode(k)}={sigv4.uri_encode(v)}" for k, v in result.added)
    assert signed.method == req.method
    assert signed.target == f"{req.target}{'&' if req.query else '?'}{appended}"
    assert signed.head_lines[1:] == req.head_lines[1:]
    assert signed.body == req.body
    presigned = sigv4.presign_query(**kwargs, expires=ctx["expiration_in_seconds"])
    assert presigned == list(result.added)


# --- botocore-aws4_testsuite: 34 cases, header signing --------------------------------------

# README §3: this .sreq carries get-vanilla's signature; .authz, .creq and .sts are right.
KNOWN_BAD_SREQ = frozenset({"get-vanilla-with-session-token"})


def _creq_header(creq: str, name: str) -> str | None:
    for line in creq.split("\n")[3:]:
        if not line:
            break
        key, _, value = line.partition(":")
        if key == name:
            return value
    return None


@pytest.mark.parametrize("case", BOTO_CASES)
def test_botocore_suite(vectors_dir: Path, case: str) -> None:
    """Header signing reproduces .creq, .sts and .authz; added headers agree with .sreq.

    The .req already holds X-Amz-Date: the signer replaces it (same value), never signs it twice.
    The token is the one in .creq (signed); a token only in .sreq is added after signing
    (post-sts-header-after). .sreq's Authorization is checked except for the known defect.
    """
    case_dir = vectors_dir / BOTO / case
    name = Path(case).name
    req = parse_request((case_dir / f"{name}.req").read_bytes())
    creq = _text(case_dir / f"{name}.creq")
    sreq = parse_request((case_dir / f"{name}.sreq").read_bytes())
    amz_date = req.header("x-amz-date")
    assert amz_date is not None

    signed_token = _creq_header(creq, "x-amz-security-token")
    token = signed_token or sreq.header("x-amz-security-token")
    result = sigv4.build_header_signature(
        method=req.method,
        path=req.path,
        headers=req.headers,
        payload_hash=sigv4.sha256_hex(req.body),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=token,
        region="us-east-1",
        service="service",
        now=datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
        query=sigv4.parse_query(req.query),
        omit_session_token=token is not None and signed_token is None,
    )

    assert result.canonical_request == creq
    assert result.string_to_sign == _text(case_dir / f"{name}.sts")
    added = dict(result.added)
    assert added["Authorization"] == _text(case_dir / f"{name}.authz")
    assert added["X-Amz-Date"] == amz_date
    for key, value in result.added:
        if key == "Authorization" and name in KNOWN_BAD_SREQ:
            assert sreq.header("authorization") != value  # the upstream defect is still there
        else:
            assert sreq.header(key.lower()) == value


# --- SageMaker: spec §5.3 worked example and table ------------------------------------------

SM_HOST = "runtime.sagemaker.us-east-1.amazonaws.com"
SM_NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC)
JSON = "application/json"


@dataclass(frozen=True)
class SageMakerCase:
    """One row of spec §5.3: what the client sends and what botocore signed."""

    id: str
    suffix: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    token: str | None
    signed_headers: str
    payload_hash: str
    signature: str

    def sign(self) -> sigv4.SigningResult:
        return sigv4.build_header_signature(
            method="POST",
            path=f"/endpoints/my-endpoint/{self.suffix}",
            headers=(("host", SM_HOST), *self.headers),
            payload_hash=sigv4.sha256_hex(self.body),
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            session_token=self.token,
            region="us-east-1",
            service="sagemaker",
            now=SM_NOW,
        )


SM_CASES = [
    SageMakerCase(
        "invoke",
        "invocations",
        (
            ("Content-Type", JSON),
            ("Accept", JSON),
            ("X-Amzn-SageMaker-Custom-Attributes", "trace=abc"),
        ),
        b'{"inputs":"hello"}',
        None,
        "accept;content-type;host;x-amz-date;x-amzn-sagemaker-custom-attributes",
        "f501139a249d6c50826fb24ea29220a9e1c84e491842c0301984046984fb6155",
        "1879aff2bdb912ed331dda82952e2781c58805821d32e9fe3eea767b9941f8b2",
    ),
    SageMakerCase(
        "stream-with-token",
        "invocations-response-stream",
        (("Content-Type", JSON),),
        b'{"inputs":"hi","stream":true}',
        "FQoGZXIvYXdzEXAMPLETOKEN",
        "content-type;host;x-amz-date;x-amz-security-token",
        "262489f724aa7b581ee86320d5ae19d8dce6e4e27f3ac3788a2fd586aae7dc3a",
        "a25c9aa26235f601ab46dbc3b481b201f0ac7b5a072b7c8adf0d66225c91c429",
    ),
    SageMakerCase(
        "async-input-location",
        "async-invocations",
        (
            ("X-Amzn-SageMaker-Content-Type", JSON),
            ("X-Amzn-SageMaker-InputLocation", "s3://bucket/in/req.json"),
            ("X-Amzn-SageMaker-RequestTTLSeconds", "600"),
            ("X-Amzn-SageMaker-InvocationTimeoutSeconds", "900"),
        ),
        b"",
        None,
        "host;x-amz-date;x-amzn-sagemaker-content-type;x-amzn-sagemaker-inputlocation;"
        "x-amzn-sagemaker-invocationtimeoutseconds;x-amzn-sagemaker-requestttlseconds",
        sigv4.EMPTY_SHA256,
        "e5425549b10405386d83432716cfe7d1afa096a5857b1ece8ae0484868705f42",
    ),
    SageMakerCase(
        "async-inline-body",
        "async-invocations",
        (
            ("X-Amzn-SageMaker-Content-Type", JSON),
            ("X-Amzn-SageMaker-S3OutputPathExtension", "a/b"),
            ("X-Amzn-SageMaker-Filename", "out.json"),
        ),
        b'{"x":1}',
        None,
        "host;x-amz-date;x-amzn-sagemaker-content-type;x-amzn-sagemaker-filename;"
        "x-amzn-sagemaker-s3outputpathextension",
        "5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22",
        "07f33a04d036826468d79d547d5a6a4e52dcd8a08b69a73e56e46ae7311833f4",
    ),
]


def test_sagemaker_worked_example_stages() -> None:
    """Spec §5.3: canonical request, string to sign and every derived key, byte for byte."""
    result = SM_CASES[0].sign()
    assert result.canonical_request == (
        "POST\n"
        "/endpoints/my-endpoint/invocations\n"
        "\n"
        "accept:application/json\n"
        "content-type:application/json\n"
        "host:runtime.sagemaker.us-east-1.amazonaws.com\n"
        "x-amz-date:20250115T120000Z\n"
        "x-amzn-sagemaker-custom-attributes:trace=abc\n"
        "\n"
        "accept;content-type;host;x-amz-date;x-amzn-sagemaker-custom-attributes\n"
        "f501139a249d6c50826fb24ea29220a9e1c84e491842c0301984046984fb6155"
    )
    assert result.string_to_sign == (
        "AWS4-HMAC-SHA256\n"
        "20250115T120000Z\n"
        "20250115/us-east-1/sagemaker/aws4_request\n"
        "ca84d4bca4175ed190cf242b5ab4a90771835e81ed0398729d88b19afda4dc32"
    )
    chain = sigv4.derive_key_chain(SECRET_KEY, "20250115", "us-east-1", "sagemaker")
    assert [k.hex() for k in chain] == [
        "b3cab3785068fabfc4f8ce5784f1e9bdd16b8a64bce81ac3f9e844c875295e32",
        "1ce12f8b52f95434163d717506c25ef9fda7b8c4c1ee115181cf430475b808f4",
        "e394ad499a4958db6a9d1b6d44e232a5b512a4c12f2ddf9a6b54c815d700eb72",
        "9670d688523ea4b80fe335b7ae4e8504e5dad78d6b3fc5128501e3c6dcc8f210",
    ]
    assert sigv4.signing_key(SECRET_KEY, "20250115", "us-east-1", "sagemaker") == chain[3]
    assert result.signature == "1879aff2bdb912ed331dda82952e2781c58805821d32e9fe3eea767b9941f8b2"


@pytest.mark.parametrize("case", SM_CASES, ids=lambda c: c.id)
def test_sagemaker_table(case: SageMakerCase) -> None:
    """Every row of spec §5.3: signed headers, payload hash, signature and the added headers."""
    result = case.sign()
    assert result.signed_headers == case.signed_headers
    assert result.canonical_request.rsplit("\n", 1)[1] == case.payload_hash
    assert result.signature == case.signature
    expected = [("X-Amz-Date", "20250115T120000Z")]
    if case.token:
        expected.append(("X-Amz-Security-Token", case.token))
    expected.append(
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250115/us-east-1/sagemaker/aws4_request, "
            f"SignedHeaders={case.signed_headers}, Signature={case.signature}",
        )
    )
    assert list(result.added) == expected


# --- canonicalisation units ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "normalize", "encode", "expected"),
    [
        # spec §5.2: the SageMaker client signs the encoded wire path, so every '%' doubles.
        (
            "/endpoints/my%20ep%2F%C3%A9%3Ax/invocations",
            True,
            True,
            "/endpoints/my%2520ep%252F%25C3%25A9%253Ax/invocations",
        ),
        ("/endpoints//invocations", True, True, "/endpoints/invocations"),
        ("/endpoints/../invocations", True, True, "/invocations"),
        ("/endpoints/x/", True, True, "/endpoints/x/"),
        ("", True, True, "/"),
        ("/example space/ሴ", True, True, "/example%20space/%E1%88%B4"),
        ("/-._~AZaz09$", True, True, "/-._~AZaz09%24"),
        # spec §5.4: S3 signs the path exactly as sent.
        ("a/b//c/./d", False, False, "a/b//c/./d"),
        ("/k%3Dv%2Bw~x%2Ay", False, False, "/k%3Dv%2Bw~x%2Ay"),
        ("//example/..", False, True, "//example/.."),
        ("", False, False, "/"),
    ],
)
def test_canonical_uri(path: str, normalize: bool, encode: bool, expected: str) -> None:
    """normalize removes dot/empty segments (keeps a trailing '/'); encode escapes all but
    unreserved and '/', once more for an already-encoded path."""
    assert sigv4.canonical_uri(path, normalize=normalize, encode=encode) == expected


def test_s3_mode_signs_the_wire_path_and_content_sha256() -> None:
    """S3 mode: the path is signed as sent, x-amz-content-sha256 is returned and signed."""
    result = sigv4.build_header_signature(
        method="GET",
        path="/async-out/a/b//c/./abc%201.out",
        headers=[("host", "my-bucket.s3.us-west-2.amazonaws.com")],
        payload_hash=sigv4.EMPTY_SHA256,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=None,
        region="us-west-2",
        service="s3",
        now=SM_NOW,
        normalize_path=False,
        encode_path=False,
        add_content_sha256=True,
    )
    assert result.canonical_request.split("\n")[1] == "/async-out/a/b//c/./abc%201.out"
    assert result.signed_headers == "host;x-amz-content-sha256;x-amz-date"
    assert ("x-amz-content-sha256", sigv4.EMPTY_SHA256) in result.added


@pytest.mark.parametrize(
    ("query", "pairs", "canonical"),
    [
        ("", [], ""),
        ("b=2&a=1", [("b", "2"), ("a", "1")], "a=1&b=2"),
        ("a=2&a=1&A=3", [("a", "2"), ("a", "1"), ("A", "3")], "A=3&a=1&a=2"),
        ("k", [("k", "")], "k="),
        ("k=a=b", [("k", "a=b")], "k=a%3Db"),
        ("sp=a+b%20c", [("sp", "a+b c")], "sp=a%2Bb%20c"),
        ("%E1%88%B4=ሴ", [("ሴ", "ሴ")], "%E1%88%B4=%E1%88%B4"),
        ("bad=%FF", [("bad", "\udcff")], "bad=%FF"),  # not UTF-8: signed as the same byte
    ],
)
def test_query(query: str, pairs: list[tuple[str, str]], canonical: str) -> None:
    """parse_query decodes without form rules ('+' stays); canonical_query re-encodes and sorts
    by encoded key then value."""
    assert sigv4.parse_query(query) == pairs
    assert sigv4.canonical_query(pairs) == canonical


@pytest.mark.parametrize(
    ("headers", "block", "signed"),
    [
        ([("Host", "h")], "host:h\n", "host"),
        ([("B", " x  y "), ("a", '"a   b"')], 'a:"a b"\nb:x y\n', "a;b"),
        ([("X", "4"), ("x", "1"), ("X", "3")], "x:4,1,3\n", "x"),
        ([("E", ""), ("F", "\tv\n w ")], "e:\nf:v w\n", "e;f"),
    ],
)
def test_canonical_headers(headers: list[tuple[str, str]], block: str, signed: str) -> None:
    """Names lowercased and sorted; values trimmed and collapsed; repeats joined in order."""
    assert sigv4.canonical_headers(headers) == (block, signed)


# --- validation and secrets ------------------------------------------------------------------

TOKEN = "SESSIONTOKENSECRET"


def _sign(**overrides: Any) -> sigv4.SigningResult:
    kwargs: dict[str, Any] = {
        "method": "POST",
        "path": "/endpoints/ep/invocations",
        "headers": [("host", SM_HOST)],
        "payload_hash": sigv4.EMPTY_SHA256,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "session_token": TOKEN,
        "region": "us-east-1",
        "service": "sagemaker",
        "now": SM_NOW,
    }
    kwargs.update(overrides)
    return sigv4.build_header_signature(**kwargs)


def test_signer_owned_headers_are_replaced() -> None:
    """A caller's Authorization, X-Amz-Date and token headers (a re-signed retry) are dropped:
    the signature equals that of the request without them, and none is signed twice."""
    stale = [
        ("Authorization", "AWS4-HMAC-SHA256 stale"),
        ("X-Amz-Date", "20200101T000000Z"),
        ("X-Amz-Security-Token", "stale-token"),
    ]
    fresh = _sign()
    resigned = _sign(headers=[("host", SM_HOST), *stale])
    assert resigned == fresh
    assert fresh.signed_headers == "host;x-amz-date;x-amz-security-token"


def test_non_utc_timestamp_is_converted() -> None:
    """An aware timestamp in another zone signs exactly as the same instant in UTC."""
    plus_two = SM_NOW.astimezone(timezone(timedelta(hours=2)))
    assert _sign(now=plus_two).added == _sign().added


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"now": datetime(2025, 1, 15, 12)}, "now"),  # naive
        ({"now": "20250115T120000Z"}, "now"),
        ({"secret_key": ""}, "secret_key"),
        ({"secret_key": SECRET_KEY + "\ud800"}, "secret_key"),
        ({"headers": [("host", SM_HOST), ("x-a", "\ud800")]}, "headers"),
        ({"path": "/endpoints/\ud800/x"}, "path"),
        ({"query": [("k", "\ud800")]}, "query"),
    ],
)
def test_invalid_input_raises_param_validation_error(overrides: dict[str, Any], param: str) -> None:
    """Bad input raises ParamValidationError naming it; no secret in str, repr or context."""
    with pytest.raises(ParamValidationError) as info:
        _sign(**overrides)
    assert info.value.param == param
    # The encoder's own error holds the whole string (maybe the secret): it must not be chained.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    for text in (str(info.value), repr(info.value)):
        assert SECRET_KEY not in text
        assert TOKEN not in text


@pytest.mark.parametrize("expires", [0, -1, 604801, True, 3.5])
def test_presign_expires_is_validated(expires: object) -> None:
    """X-Amz-Expires must be an integer from 1 second to 7 days."""
    with pytest.raises(ParamValidationError, match="expires"):
        sigv4.presign_query(
            method="GET",
            path="/",
            headers=[("host", "h")],
            payload_hash=sigv4.EMPTY_SHA256,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            session_token=None,
            region="us-east-1",
            service="s3",
            now=SM_NOW,
            expires=expires,  # type: ignore[arg-type]
        )


def test_secrets_never_in_repr() -> None:
    """Nothing returned carries the secret key; a result's repr hides token and signature."""
    result = _sign()
    presigned = sigv4.build_query_signature(
        method="GET",
        path="/",
        headers=[("host", "h")],
        payload_hash=sigv4.EMPTY_SHA256,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=TOKEN,
        region="us-east-1",
        service="s3",
        now=SM_NOW,
        expires=60,
    )
    chain = sigv4.derive_key_chain(SECRET_KEY, "20250115", "us-east-1", "sagemaker")
    for value in (result, presigned, result.added, presigned.added, chain):
        assert SECRET_KEY not in str(value)
        assert SECRET_KEY not in repr(value)
    for value in (result, presigned):
        assert TOKEN not in repr(value)
        assert value.signature not in repr(value)


# --- botocore as differential oracle -----------------------------------------------------------

# Unicode, reserved and percent characters, so both sides must double-encode the same way.
_SEGMENT = st.text(alphabet=st.sampled_from("az09-._~ %/?#&=+:;@!$'()*,ሴé😀"), max_size=8)
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ0123456789-", min_size=1, max_size=12)
# Printable ASCII interleaved with space runs, so leading, trailing and repeated spaces are common.
_VALUE = st.lists(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=4)
    | st.text(alphabet=" ", min_size=1, max_size=3),
    max_size=6,
).map("".join)
# botocore excludes its deny-list and manages these itself; `date` it would rewrite.
_RESERVED = frozenset(
    {
        *botocore.auth.SIGNED_HEADERS_BLACKLIST,
        "host",
        "date",
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    }
)
_HEADERS = st.lists(
    st.tuples(_NAME, _VALUE),
    max_size=6,
    unique_by=lambda header: header[0].lower(),
).map(lambda hs: [h for h in hs if h[0].lower() not in _RESERVED])


def _botocore_authorization(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    token: str | None,
    region: str,
    now: datetime,
) -> str:
    request = botocore.awsrequest.AWSRequest(method, url, dict(headers), body)
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY, token)
    signer = botocore.auth.SigV4Auth(credentials, "sagemaker", region)
    # botocore 1.43 reads the clock through this name (naive UTC).
    clock = now.astimezone(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=clock):
        signer.add_auth(request)
    return str(request.headers["Authorization"])


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    segments=st.lists(_SEGMENT, min_size=1, max_size=5),
    headers=_HEADERS,
    body=st.binary(max_size=64),
    token=st.none() | st.text(alphabet="AZaz09+/=", min_size=1, max_size=40),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
    now=st.datetimes(
        min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
)
def test_matches_botocore(
    method: str,
    segments: list[str],
    headers: list[tuple[str, str]],
    body: bytes,
    token: str | None,
    region: str,
    now: datetime,
) -> None:
    """Our Authorization equals botocore SigV4Auth's for the same request, headers and clock.

    botocore signs every header but its deny-list plus host from the URL; we are given that same
    set. The path is a wire path (each segment encoded with quote(safe='')), so both sides
    normalise and double-encode it.
    """
    host = f"runtime.sagemaker.{region}.amazonaws.com"
    path = "/" + "/".join(quote(segment, safe="") for segment in segments)
    expected = _botocore_authorization(
        method, f"https://{host}{path}", headers, body, token, region, now
    )
    added = sigv4.sign_headers(
        method=method,
        path=path,
        headers=[("host", host), *headers],
        payload_hash=hashlib.sha256(body).hexdigest(),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=token,
        region=region,
        service="sagemaker",
        now=now,
    )
    assert dict(added)["Authorization"] == expected
