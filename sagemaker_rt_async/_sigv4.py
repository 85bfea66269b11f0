"""AWS Signature Version 4: turn a request description into the headers or query that sign it.

Pure (layer 0): no I/O, no clock, no environment. The caller passes the timestamp as an aware
``datetime`` and the payload hash, and chooses which headers are signed. The stages are exposed
separately (canonical URI / query / headers -> canonical request -> string to sign -> key ->
signature) so that tests can walk the AWS suites through each of them (spec §5).

Two callers, two path modes (spec §5.2, §5.4):

* SageMaker Runtime passes the already-encoded *wire* path with ``normalize_path=True,
  encode_path=True``: dot segments and empty segments are removed and every ``%`` is encoded once
  more (``/endpoints/my%20ep/x`` is signed as ``/endpoints/my%2520ep/x``), exactly as botocore.
* S3 passes the wire path with ``normalize_path=False, encode_path=False``: signed as sent.

Event streams sent by the client (InvokeEndpointWithBidirectionalStream, bidirectional-stream
spec §4–§5) are signed as a chain: the initial request with the payload hash
``STREAMING-AWS4-HMAC-SHA256-EVENTS``, its signature the seed; then each event is wrapped in an
envelope (``:date``, ``:chunk-signature``) whose signature covers the prior signature, the
``:date`` header and the inner message (:class:`EventSigner`).

Secrets (secret key, session token, signature) never reach an exception message or a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote, unquote

from ._errors import ParamValidationError
from ._eventstream import HeaderType, encode_message

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "EVENT_ALGORITHM",
    "STREAMING_EVENTS_PAYLOAD",
    "UNSIGNED_PAYLOAD",
    "EventSigner",
    "SigningResult",
    "build_header_signature",
    "build_query_signature",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "credential_scope",
    "date_header_bytes",
    "derive_key_chain",
    "event_string_to_sign",
    "parse_query",
    "presign_query",
    "sha256_hex",
    "sign_headers",
    "signing_key",
    "string_to_sign",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
"""The only algorithm this module implements (SigV4A, ECDSA, is a different one)."""

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
"""Hex SHA-256 of the empty body: the payload hash of every request without a body."""

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
"""Payload-hash placeholder S3 accepts over HTTPS instead of hashing the body (spec §5.4)."""

# SigV4 presigned URLs are valid for at most 7 days (S3 rejects a larger X-Amz-Expires).
_MAX_EXPIRES = 7 * 24 * 3600

# Headers the header signer sets itself, so a caller-supplied copy is replaced, never signed
# twice (botocore deletes them before signing: a retry re-signs an already signed request).
_OWN_BASE = frozenset({"authorization", "x-amz-date"})
_OWN_WITH_TOKEN = _OWN_BASE | {"x-amz-security-token"}
_OWN_WITH_SHA = _OWN_BASE | {"x-amz-content-sha256"}
_OWN_WITH_BOTH = _OWN_WITH_TOKEN | _OWN_WITH_SHA
_NOTHING: frozenset[str] = frozenset()


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``: the payload hash of a body sent as these bytes."""
    return hashlib.sha256(data).hexdigest()


def uri_encode(text: str, safe: str = "") -> str:
    """SigV4 ``UriEncode``: percent-encode UTF-8 bytes except ``A-Z a-z 0-9 - . _ ~`` and ``safe``.

    Hex digits are uppercase. Lone surrogates from :func:`parse_query` (undecodable ``%XX``
    bytes) are turned back into their original byte.
    """
    return quote(text, safe=safe, errors="surrogateescape")


def _utf8(param: str, text: str) -> bytes:
    # The encode error is dropped, not chained: UnicodeEncodeError carries the whole string,
    # and that string may hold a secret (secret key, or a canonical request with the token).
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    raise ParamValidationError(param, "must be encodable as UTF-8 (lone surrogate found)")


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4 plus the AWS rule that empty segments collapse, kept identical to
    # botocore.utils.remove_dot_segments (spec §5.2), except that an empty result is '/'.
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last or "/"


@lru_cache(maxsize=512)
def _canonical_uri(path: str, normalize: bool, encode: bool) -> str:
    # Cached: a client signs the same few endpoint paths over and over.
    if normalize:
        path = _remove_dot_segments(path)
    elif not path:
        path = "/"
    if not encode:
        return path
    try:
        return quote(path, safe="/")
    except UnicodeEncodeError:
        pass
    raise ParamValidationError("path", "must be encodable as UTF-8 (lone surrogate found)")


def canonical_uri(path: str, *, normalize: bool = True, encode: bool = True) -> str:
    """The canonical URI of ``path``.

    ``normalize`` removes ``.``/``..`` segments and collapses empty segments, keeping a trailing
    ``/`` (an empty path becomes ``/``). ``encode`` then percent-encodes every UTF-8 byte except
    unreserved characters and ``/``. Given an already-encoded wire path this double-encodes, as
    SigV4 requires for every service but S3 (spec §5.2); S3 passes both flags False (§5.4).
    """
    return _canonical_uri(path, normalize, encode)


def parse_query(query: str) -> list[tuple[str, str]]:
    """Split a raw query string (no ``?``) into decoded ``(key, value)`` pairs, in order.

    Split on ``&``, then at the first ``=``; a missing ``=`` gives an empty value. Keys and values
    are percent-decoded; ``+`` stays ``+`` (SigV4 is not form decoding). Bytes that are not UTF-8
    decode to lone surrogates, so :func:`canonical_query` re-encodes them to the same ``%XX``.
    """
    if not query:
        return []
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append(
            (unquote(key, errors="surrogateescape"), unquote(value, errors="surrogateescape"))
        )
    return pairs


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string of decoded ``params``.

    Keys and values are encoded with :func:`uri_encode`, sorted by encoded key then encoded value
    (repeated keys are kept), and joined as ``k=v`` with ``&``. No parameters gives ``""``.
    """
    try:
        encoded = sorted((uri_encode(key), uri_encode(value)) for key, value in params)
    except UnicodeEncodeError:
        encoded = None
    if encoded is None:
        raise ParamValidationError("query", "must be encodable as UTF-8 (lone surrogate found)")
    return "&".join([f"{key}={value}" for key, value in encoded])


def _canonical_headers(
    headers: Iterable[tuple[str, str]],
    skip: frozenset[str],
    extra: Sequence[tuple[str, str]],
) -> tuple[str, str]:
    # The hot path of signing: one pass, one dict, one sort. ``extra`` holds the signer's own
    # headers (lowercase names, all in ``skip``), which replace the caller's copies.
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in skip:
            continue
        # str.split() trims and splits on every whitespace run: botocore's Trimall, which also
        # collapses runs inside quotes and unfolded continuation lines (vectors README §2).
        value = " ".join(value.split())
        previous = merged.get(key)
        # Repeated names join with ',' in order of appearance, never sorted (README §2).
        merged[key] = value if previous is None else f"{previous},{value}"
    for key, value in extra:
        merged[key] = " ".join(value.split())
    names = sorted(merged)
    block = "".join([f"{name}:{merged[name]}\n" for name in names])
    return block, ";".join(names)


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The canonical headers block and signed-headers list of ``headers`` (every one is signed).

    Names are lowercased; values trimmed with whitespace runs collapsed to one space (also inside
    quotes); repeated names joined with ``,`` in order of appearance; sorted by name. Returns
    ``(block, signed)``: each block line ends with ``\\n``; ``signed`` is ``"a;b;c"``.
    """
    return _canonical_headers(headers, _NOTHING, ())


def canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query: str,
    canonical_headers_block: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """Join the six canonical-request lines with ``\\n`` (spec §5.1 step 3).

    ``canonical_headers_block`` already ends with ``\\n``, so a blank line follows it.
    """
    return "\n".join(
        (
            method,
            canonical_uri,
            canonical_query,
            canonical_headers_block,
            signed_headers,
            payload_hash,
        )
    )


def credential_scope(date: str, region: str, service: str) -> str:
    """``D/region/service/aws4_request``, where ``D`` is ``YYYYMMDD``."""
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The string to sign: algorithm, ``X-Amz-Date``, scope, hex SHA-256 of canonical request."""
    digest = hashlib.sha256(_utf8("headers", canonical_request)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def derive_key_chain(
    secret_key: str, date: str, region: str, service: str
) -> tuple[bytes, bytes, bytes, bytes]:
    """The SigV4 key derivation, every step: ``(kDate, kRegion, kService, kSigning)``.

    Uncached; :func:`signing_key` is the cached form the signer uses.
    """
    if not isinstance(secret_key, str) or not secret_key:
        raise ParamValidationError("secret_key", "must be a non-empty string")
    k_date = hmac.digest(_utf8("secret_key", "AWS4" + secret_key), _utf8("date", date), "sha256")
    k_region = hmac.digest(k_date, _utf8("region", region), "sha256")
    k_service = hmac.digest(k_region, _utf8("service", service), "sha256")
    return k_date, k_region, k_service, hmac.digest(k_service, b"aws4_request", "sha256")


@lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning for ``(secret_key, date, region, service)``, cached (it changes once a day)."""
    return derive_key_chain(secret_key, date, region, service)[3]


def _timestamps(now: datetime) -> tuple[str, str]:
    """(``X-Amz-Date``, scope date) of an aware ``now``, at second resolution, in UTC."""
    if not isinstance(now, datetime):
        raise ParamValidationError("now", "must be a datetime")
    if now.utcoffset() is None:
        raise ParamValidationError("now", "must be timezone-aware (UTC); got a naive datetime")
    # Keyed on the whole second: fresh clock readings differ in microseconds but share their
    # second, and formatting costs more than the rest of the timestamp handling together.
    return _format_epoch_second(math.floor(now.timestamp()))


@lru_cache(maxsize=8)
def _format_epoch_second(epoch: int) -> tuple[str, str]:
    t = datetime.fromtimestamp(epoch, timezone.utc)
    date = f"{t.year:04d}{t.month:02d}{t.day:02d}"
    return f"{date}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z", date


@dataclass(frozen=True, slots=True)
class SigningResult:
    """Every stage of one signature, for tests and debugging.

    ``added`` holds what :func:`sign_headers` / :func:`presign_query` return. The canonical
    request (it may contain the session token), the signature and ``added`` stay out of repr.
    """

    canonical_request: str = field(repr=False)
    string_to_sign: str
    signed_headers: str
    signature: str = field(repr=False)
    added: tuple[tuple[str, str], ...] = field(repr=False)


@lru_cache(maxsize=64)
def _keyed_hmac(secret_key: str, date: str, region: str, service: str) -> hmac.HMAC:
    # A keyed HMAC, copied per signature: skips the key set-up, a third of an HMAC's cost.
    return hmac.new(signing_key(secret_key, date, region, service), digestmod=hashlib.sha256)


def _signature(secret_key: str, date: str, region: str, service: str, sts: str) -> str:
    mac = _keyed_hmac(secret_key, date, region, service).copy()
    mac.update(_utf8("string_to_sign", sts))
    return mac.hexdigest()


def _header_signing(
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
    query: Sequence[tuple[str, str]],
    normalize_path: bool,
    encode_path: bool,
    add_content_sha256: bool,
    omit_session_token: bool,
) -> tuple[str, str, str, str, list[tuple[str, str]]]:
    # The hot path, kept positional and free of intermediate objects; returns
    # (canonical request, string to sign, signed headers, signature, headers to add).
    amz_date, date = _timestamps(now)
    added: list[tuple[str, str]] = [("X-Amz-Date", amz_date)]
    extra: list[tuple[str, str]] = [("x-amz-date", amz_date)]
    if session_token:
        added.append(("X-Amz-Security-Token", session_token))
        # post-sts-header-after (vectors README §2): some services want the token on the
        # request but outside the signature.
        if not omit_session_token:
            extra.append(("x-amz-security-token", session_token))
        skip = _OWN_WITH_BOTH if add_content_sha256 else _OWN_WITH_TOKEN
    else:
        skip = _OWN_WITH_SHA if add_content_sha256 else _OWN_BASE
    if add_content_sha256:
        # S3 requires it and signs it (spec §5.4); so do the aws-c-auth sign_body cases.
        added.append(("x-amz-content-sha256", payload_hash))
        extra.append(("x-amz-content-sha256", payload_hash))
    block, signed = _canonical_headers(headers, skip, extra)
    creq = "\n".join(
        (
            method.upper(),
            _canonical_uri(path, normalize_path, encode_path),
            canonical_query(query) if query else "",
            block,
            signed,
            payload_hash,
        )
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = string_to_sign(amz_date, scope, creq)
    signature = _signature(secret_key, date, region, service, sts)
    added.append(
        (
            "Authorization",
            f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}",
        )
    )
    return creq, sts, signed, signature, added


def build_header_signature(
    *,
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
    query: Sequence[tuple[str, str]] = (),
    normalize_path: bool = True,
    encode_path: bool = True,
    add_content_sha256: bool = False,
    omit_session_token: bool = False,
) -> SigningResult:
    """Sign for the ``Authorization`` header and return every stage; see :func:`sign_headers`."""
    creq, sts, signed, signature, added = _header_signing(
        method,
        path,
        headers,
        payload_hash,
        access_key,
        secret_key,
        session_token,
        region,
        service,
        now,
        query,
        normalize_path,
        encode_path,
        add_content_sha256,
        omit_session_token,
    )
    return SigningResult(creq, sts, signed, signature, tuple(added))


def sign_headers(
    *,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
    query: Sequence[tuple[str, str]] = (),
    normalize_path: bool = True,
    encode_path: bool = True,
    add_content_sha256: bool = False,
    omit_session_token: bool = False,
) -> list[tuple[str, str]]:
    """Sign a request with an ``Authorization`` header; return the headers to set on it.

    ``headers`` are exactly the headers to sign, ``("host", ...)`` included; leave out those the
    HTTP client may add or change (``content-length``, ``user-agent``, ...; spec §5.1). ``path``
    is canonicalised by :func:`canonical_uri` with ``normalize_path`` / ``encode_path``;
    ``query`` holds decoded pairs. ``now`` is an aware datetime (naive raises
    :class:`ParamValidationError`).

    Returned, in order: ``X-Amz-Date``; ``X-Amz-Security-Token`` if there is a token (signed
    unless ``omit_session_token``); ``x-amz-content-sha256`` if ``add_content_sha256`` (signed);
    ``Authorization``. They *replace* any header of the same name: a copy of these in
    ``headers`` is ignored, never signed twice.
    """
    return _header_signing(
        method,
        path,
        headers,
        payload_hash,
        access_key,
        secret_key,
        session_token,
        region,
        service,
        now,
        query,
        normalize_path,
        encode_path,
        add_content_sha256,
        omit_session_token,
    )[4]


def build_query_signature(
    *,
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
    expires: int,
    query: Sequence[tuple[str, str]] = (),
    normalize_path: bool = True,
    encode_path: bool = True,
    omit_session_token: bool = False,
) -> SigningResult:
    """Sign in the query string (presign) and return every stage; see :func:`presign_query`."""
    if isinstance(expires, bool) or not isinstance(expires, int) or not 0 < expires <= _MAX_EXPIRES:
        raise ParamValidationError("expires", f"must be an integer from 1 to {_MAX_EXPIRES}")
    amz_date, date = _timestamps(now)
    scope = f"{date}/{region}/{service}/aws4_request"
    block, signed = _canonical_headers(headers, _NOTHING, ())
    # This order is the order aws-c-auth appends them in (query-signed-request.txt).
    added: list[tuple[str, str]] = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-SignedHeaders", signed),
        ("X-Amz-Expires", str(expires)),
    ]
    if session_token:
        added.append(("X-Amz-Security-Token", session_token))
    signed_params = [*query, *(added[:5] if omit_session_token else added)]
    creq = "\n".join(
        (
            method.upper(),
            _canonical_uri(path, normalize_path, encode_path),
            canonical_query(signed_params),
            block,
            signed,
            payload_hash,
        )
    )
    sts = string_to_sign(amz_date, scope, creq)
    signature = _signature(secret_key, date, region, service, sts)
    added.append(("X-Amz-Signature", signature))
    return SigningResult(creq, sts, signed, signature, tuple(added))


def presign_query(
    *,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
    expires: int,
    query: Sequence[tuple[str, str]] = (),
    normalize_path: bool = True,
    encode_path: bool = True,
    omit_session_token: bool = False,
) -> list[tuple[str, str]]:
    """Sign a request in its query string (a presigned URL); return the parameters to append.

    Parameters as for :func:`sign_headers`; ``headers`` are signed as given and nothing is added
    to them (usually just ``host``). ``expires`` is the validity in seconds (1 to 7 days).

    Returned, decoded, in the order to append them after the existing query: ``X-Amz-Algorithm``,
    ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-SignedHeaders``, ``X-Amz-Expires``,
    ``X-Amz-Security-Token`` (if a token; signed unless ``omit_session_token``),
    ``X-Amz-Signature``. Encode each key and value with :func:`uri_encode`.
    """
    return list(
        build_query_signature(
            method=method,
            path=path,
            headers=headers,
            payload_hash=payload_hash,
            access_key=access_key,
            secret_key=secret_key,
            session_token=session_token,
            region=region,
            service=service,
            now=now,
            expires=expires,
            query=query,
            normalize_path=normalize_path,
            encode_path=encode_path,
            omit_session_token=omit_session_token,
        ).added
    )


# --------------------------------------------------------------------------------- event chain

STREAMING_EVENTS_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
"""Payload hash (and ``x-amz-content-sha256`` value) of a request whose body is signed events."""

EVENT_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
"""First line of an event's string to sign (bidirectional-stream spec §5.3)."""

_DATE_HEADER_PREFIX = b"\x05:date\x08"
_I64 = struct.Struct(">q")


def date_header_bytes(epoch_ms: int) -> bytes:
    """The encoded ``:date`` header alone (15 bytes): what an event signature hashes of it."""
    return _DATE_HEADER_PREFIX + _I64.pack(epoch_ms)


def event_string_to_sign(
    amz_date: str, scope: str, prior_signature: str, epoch_ms: int, payload: bytes
) -> str:
    """The string to sign of one event (spec §5.3): six lines joined by ``\\n``."""
    return "\n".join(
        (
            EVENT_ALGORITHM,
            amz_date,
            scope,
            prior_signature,
            hashlib.sha256(date_header_bytes(epoch_ms)).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        )
    )


class EventSigner:
    """Signs the events of one stream in order, each chained to the signature before it.

    ``seed`` is the initial request's signature (64 hex characters); the secret key is that
    request's, pinned for the whole stream (the events carry no key id: the service can only
    check them against the initial request's credentials, spec §5.6). ``now`` is passed per
    event; its sub-second part is dropped, so ``:date`` and the string to sign name the same
    instant (spec §5.4). The signing key follows each event's own date (a stream crossing
    midnight UTC switches keys). After :meth:`end` nothing more can be signed.
    """

    __slots__ = ("_ended", "_prior", "_region", "_secret_key", "_service")

    def __init__(self, *, seed: str, secret_key: str, region: str, service: str) -> None:
        if len(seed) != 64 or any(c not in "0123456789abcdef" for c in seed):
            raise ParamValidationError("seed", "must be a signature: 64 lowercase hex characters")
        self._prior = seed
        self._secret_key = secret_key
        self._region = region
        self._service = service
        self._ended = False

    def __repr__(self) -> str:
        return (
            f"EventSigner(region={self._region!r}, service={self._service!r}, ended={self._ended})"
        )

    @property
    def ended(self) -> bool:
        """The end frame was signed: the chain is closed."""
        return self._ended

    def sign(self, payload: bytes, now: datetime) -> tuple[int, bytes]:
        """Sign ``payload`` (an encoded inner message, or ``b""`` for the end frame) at ``now``.

        Returns ``(:date in whole-second milliseconds, the 32 raw signature bytes)`` and moves
        the chain on.
        """
        if self._ended:
            raise ParamValidationError(
                "event", "the stream's input has ended: nothing more is signed"
            )
        amz_date, date = _timestamps(now)
        epoch_ms = math.floor(now.timestamp()) * 1000
        scope = f"{date}/{self._region}/{self._service}/aws4_request"
        sts = event_string_to_sign(amz_date, scope, self._prior, epoch_ms, payload)
        mac = _keyed_hmac(self._secret_key, date, self._region, self._service).copy()
        mac.update(sts.encode("ascii"))
        raw = mac.digest()
        self._prior = raw.hex()
        return epoch_ms, raw

    def envelope(self, payload: bytes, now: datetime) -> bytes:
        """The signed envelope of ``payload`` (spec §5.2): ``:date``, ``:chunk-signature``,
        then the inner message as its payload."""
        epoch_ms, raw = self.sign(payload, now)
        return encode_message(
            [
                (":date", HeaderType.TIMESTAMP, epoch_ms),
                (":chunk-signature", HeaderType.BYTE_ARRAY, raw),
            ],
            payload,
        )

    def end_frame(self, now: datetime) -> bytes:
        """The signed empty envelope that ends the input (spec §5.5); closes the chain."""
        frame = self.envelope(b"", now)
        self._ended = True
        return frame
