"""An in-memory S3 for tests: GET/HEAD/PUT Object, S3-mode SigV4 checks and S3's own errors.

``FakeS3`` answers path-style requests (``/{bucket}/{key}``, any host) and virtual-hosted ones
(``Host: {bucket}.s3.{region}.amazonaws.com``) through the same front doors as the SageMaker
fake: an in-process httpx transport (``fake.transport()``) and a real loopback server
(``fake.serve()``). Every request is recorded with its request target exactly as received, so
tests can assert that the bytes on the wire are the bytes that were signed.

Signatures are checked the way S3 checks them (spec §5.4): service ``s3``, the canonical URI is
the raw path as received (no normalisation, no second encoding), and ``x-amz-content-sha256``
is required, signed, and must be the body's SHA-256 or ``UNSIGNED-PAYLOAD``. Wrong-region
answers (``wrong_region_for``) and temporary redirects (``redirect_307_for``) can be staged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import unquote
from xml.sax.saxutils import escape

from .._models import Credentials
from .._sigv4 import UNSIGNED_PAYLOAD, build_header_signature, parse_query, sha256_hex
from ._base import TEST_CREDENTIALS, FakeResponse, RecordedRequest, parse_authorization

__all__ = ["FakeS3", "StoredObject"]

_MAX_SKEW_S = 15 * 60  # SigV4: a request must arrive within 15 minutes of X-Amz-Date
_VIRTUAL_HOST_RE = re.compile(r"(?P<bucket>.+?)\.s3[.-]", re.ASCII)
_OWN_HEADERS = frozenset({"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})
_DEFAULT_TYPE = "binary/octet-stream"  # what S3 stores when a PUT names no Content-Type


@dataclass(frozen=True, slots=True, repr=False)
class StoredObject:
    """An object held by the fake: its bytes, content type and ETag (quoted hex MD5)."""

    body: bytes
    content_type: str | None
    etag: str

    def __repr__(self) -> str:
        return f"StoredObject(<{len(self.body)} bytes>, {self.content_type!r}, {self.etag})"


class FakeS3:
    """An in-memory S3 answering GetObject, HeadObject and PutObject.

    Args:
        region: the region of every bucket not in ``wrong_region_for``.
        credentials: the only credentials accepted (session token included).
        verify_signatures: reject requests whose S3 SigV4 signature is wrong.
        accept_any_credentials: check that requests are well signed, but take any access key,
            session token and signature (as moto and LocalStack do).
        missing_as_403: answer a missing key with 403 ``AccessDenied`` instead of 404
            ``NoSuchKey``, as S3 does for a caller without ``s3:ListBucket``.
        wrong_region_for: ``{bucket: region}`` of buckets living elsewhere. A request signed
            for another region gets 301 ``PermanentRedirect`` with ``x-amz-bucket-region``
            (``wrong_region_style="redirect"``), or 400 ``AuthorizationHeaderMalformed`` with
            ``<Region>`` in the XML and no header (``"malformed"``).
        redirect_307_for: ``{bucket: host}``: a request for the bucket on any other host gets
            307 ``TemporaryRedirect`` with ``Location: https://{host}/...``.

    A request signed for the wrong region of a bucket *not* in ``wrong_region_for`` gets
    400 ``AuthorizationHeaderMalformed`` naming ``region``, as S3 answers. Every bucket exists.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        credentials: Credentials = TEST_CREDENTIALS,
        verify_signatures: bool = True,
        accept_any_credentials: bool = False,
        missing_as_403: bool = False,
        wrong_region_for: Mapping[str, str] | None = None,
        wrong_region_style: Literal["redirect", "malformed"] = "redirect",
        redirect_307_for: Mapping[str, str] | None = None,
    ) -> None:
        self.region = region
        self.credentials = credentials
        self.verify_signatures = verify_signatures
        self.accept_any_credentials = accept_any_credentials
        self.missing_as_403 = missing_as_403
        self.wrong_region_for: dict[str, str] = dict(wrong_region_for or {})
        self.wrong_region_style = wrong_region_style
        self.redirect_307_for: dict[str, str] = dict(redirect_307_for or {})
        self.objects: dict[tuple[str, str], StoredObject] = {}
        """``(bucket, key) -> StoredObject``."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in order; ``path`` is the raw request target."""
        self.before_request: list[Callable[[], Awaitable[None]]] = []
        """Async hooks run before each request is answered (the SageMaker fake runs its
        async-inference jobs here)."""
        self.queued: list[FakeResponse] = []
        """Canned answers, used first-in first-out before anything else is checked."""

    def put(self, bucket: str, key: str, body: bytes, content_type: str | None = None) -> str:
        """Store an object directly (no HTTP); returns its ETag."""
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        self.objects[(bucket, key)] = StoredObject(bytes(body), content_type, etag)
        return etag

    def get(self, bucket: str, key: str) -> bytes | None:
        """The stored bytes of an object, or None."""
        stored = self.objects.get((bucket, key))
        return None if stored is None else stored.body

    def transport(self) -> Any:
        """An in-process ``httpx.AsyncBaseTransport`` answering from this fake."""
        from ._transport import FakeTransport

        return FakeTransport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """A real HTTP/1.1 server on loopback (a context manager; ``.url`` once started)."""
        from ._server import LoopbackServer

        return LoopbackServer(self, host=host, port=port)

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        """Answer one HTTP request as S3 would."""
        for hook in list(self.before_request):
            await hook()
        self.requests.append(RecordedRequest(method, target, tuple(headers), body))
        if self.queued:
            return self.queued.pop(0)
        request_id = uuid.uuid4().hex[:16].upper()
        lower = {k.lower(): v for k, v in headers}
        host = lower.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        raw_path = target.split("?", 1)[0]
        virtual = _VIRTUAL_HOST_RE.match(hostname)
        if virtual is not None:
            bucket, raw_key = virtual["bucket"], raw_path[1:]
        else:
            raw_bucket, _, raw_key = raw_path[1:].partition("/")
            bucket = unquote(raw_bucket)
        key = unquote(raw_key)
        err = _Errors(method, request_id, bucket, key)
        if not bucket or not key:
            return err.xml(400, "InvalidRequest", "Only object operations are supported.")

        home = self.redirect_307_for.get(bucket)
        if home is not None and hostname != home:
            path = f"/{raw_key}" if home.startswith(bucket + ".") else f"/{bucket}/{raw_key}"
            return err.xml(
                307,
                "TemporaryRedirect",
                "Please re-send this request to the specified temporary endpoint. "
                "Continue to use the original request endpoint for future requests.",
                headers=[("Location", f"https://{home}{path}")],
                Endpoint=home,
                Bucket=bucket,
            )

        if self.verify_signatures:
            failure = self._check(method, target, headers, lower, body, bucket, err)
            if failure is not None:
                return failure

        if method in ("GET", "HEAD"):
            stored = self.objects.get((bucket, key))
            if stored is None:
                if self.missing_as_403:
                    return err.xml(403, "AccessDenied", "Access Denied")
                return err.xml(404, "NoSuchKey", "The specified key does not exist.", Key=key)
            out = [
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", _host_id(request_id)),
                ("Last-Modified", formatdate(usegmt=True)),
                ("ETag", stored.etag),
                ("Accept-Ranges", "bytes"),
                ("Content-Type", stored.content_type or _DEFAULT_TYPE),
                ("Content-Length", str(len(stored.body))),
            ]
            return FakeResponse(200, out, stored.body if method == "GET" else b"")
        if method == "PUT":
            etag = self.put(bucket, key, body, lower.get("content-type"))
            out = [
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", _host_id(request_id)),
                ("ETag", etag),
                ("Content-Length", "0"),
            ]
            return FakeResponse(200, out, b"")
        return err.xml(
            405, "MethodNotAllowed", "The specified method is not allowed against this resource."
        )

    def _check(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        lower: Mapping[str, str],
        body: bytes,
        bucket: str,
        err: _Errors,
    ) -> FakeResponse | None:
        if not lower.get("authorization"):
            return err.xml(403, "AccessDenied", "Access Denied")
        parsed = parse_authorization(lower)
        if parsed is None:
            return err.xml(
                400, "AuthorizationHeaderMalformed", "The authorization header is malformed"
            )
        algorithm, access_key, date, region, service, terminal = parsed.scope
        signed_names, signature, amz_date, when = (
            parsed.signed_names,
            parsed.signature,
            parsed.amz_date,
            parsed.when,
        )
        if algorithm != "AWS4-HMAC-SHA256" or terminal != "aws4_request" or service != "s3":
            return err.xml(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; incorrect service '{service}'. "
                "This endpoint belongs to 's3'.",
            )
        if access_key != self.credentials.access_key_id and not self.accept_any_credentials:
            return err.xml(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=access_key,
            )
        home = self.wrong_region_for.get(bucket, self.region)
        if region != home:
            return self._wrong_region(err, bucket, region, home)
        if date != amz_date[:8] or abs(when.timestamp() - time.time()) > _MAX_SKEW_S:
            return err.xml(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        token = lower.get("x-amz-security-token")
        if (token or None) != self.credentials.session_token and not self.accept_any_credentials:
            return err.xml(
                403, "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
        content_sha = lower.get("x-amz-content-sha256")
        if content_sha is None:
            return err.xml(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
            )
        if content_sha != UNSIGNED_PAYLOAD and content_sha != sha256_hex(body):
            return err.xml(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        for required in ("host", "x-amz-content-sha256", "x-amz-date"):
            if required not in signed_names:
                return err.xml(
                    403,
                    "AccessDenied",
                    f"There were headers present in the request which were not signed: {required}",
                )
        values: list[tuple[str, str]] = []
        for name in signed_names:
            if name in _OWN_HEADERS:
                continue
            found = [v for k, v in headers if k.lower() == name]
            if not found:
                return err.xml(403, "AccessDenied", f"Signed header {name!r} is missing")
            values.extend((name, value) for value in found)
        if self.accept_any_credentials:
            return None  # well formed; the secret is the caller's own, unknown here
        path, _, query = target.partition("?")
        expected = build_header_signature(
            method=method,
            path=path,
            headers=values,
            payload_hash=content_sha,
            access_key=access_key,
            secret_key=self.credentials.secret_access_key,
            session_token=token if "x-amz-security-token" in signed_names else None,
            region=region,
            service="s3",
            now=when,
            query=parse_query(query),
            normalize_path=False,
            encode_path=False,
            add_content_sha256=True,
        )
        if expected.signed_headers != ";".join(signed_names) or not hmac.compare_digest(
            expected.signature, signature
        ):
            return err.xml(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                AWSAccessKeyId=access_key,
                StringToSign=expected.string_to_sign,
                CanonicalRequest=expected.canonical_request,
            )
        return None

    def _wrong_region(self, err: _Errors, bucket: str, region: str, home: str) -> FakeResponse:
        if bucket in self.wrong_region_for and self.wrong_region_style == "redirect":
            endpoint = f"{bucket}.s3.{home}.amazonaws.com"
            return err.xml(
                301,
                "PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified "
                "endpoint. Please send all future requests to this endpoint.",
                headers=[("x-amz-bucket-region", home)],
                Endpoint=endpoint,
                Bucket=bucket,
            )
        return err.xml(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{region}' is wrong; "
            f"expecting '{home}'",
            Region=home,
        )


def _host_id(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()[:40]


class _Errors:
    """S3's rest-xml error answers for one request (HEAD answers carry no body)."""

    def __init__(self, method: str, request_id: str, bucket: str, key: str) -> None:
        self.method = method
        self.request_id = request_id
        self.bucket = bucket
        self.key = key

    def xml(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        **extra: str,
    ) -> FakeResponse:
        host_id = _host_id(self.request_id)
        members = {"Code": code, "Message": message, **extra}
        members.update(RequestId=self.request_id, HostId=host_id)
        inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in members.items())
        document = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()
        out = [
            ("x-amz-request-id", self.request_id),
            ("x-amz-id-2", host_id),
            ("Content-Type", "application/xml"),
            *headers,
        ]
        if self.method == "HEAD":
            return FakeResponse(status, out, b"")
        return FakeResponse(status, out, document)
