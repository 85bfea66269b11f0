"""Where requests go: region, partition, FIPS and dual-stack settings turned into URLs.

One responsibility: from the caller's configuration (``region``, ``use_fips``,
``use_dualstack``, ``endpoint_url``) compute the base URL, the ``Host`` value to sign and send,
and the signing region, exactly as the SageMaker Runtime endpoint rule set does (spec §1.2–§1.4);
and, for async inference, the address of an S3 object (spec §5.4, §8).

Pure and stdlib-only (layer 0): no I/O, no environment, no clock. Everything returned is
already percent-encoded once, so the bytes the shell sends are the bytes it signs.

Deliberate differences from botocore, each one a refusal rather than a different URL:

* ``endpoint_url`` combined with ``use_fips`` or ``use_dualstack`` raises. botocore silently
  drops both flags when an endpoint URL is given; the rule set itself calls the combination an
  error, and the caller asked for something a custom endpoint cannot give.
* Regions must be DNS labels (``^[a-z0-9](-*[a-z0-9])*$``, at most 63 characters); the rule set
  would splice anything into a host name.
* A region is required even with ``endpoint_url``: SigV4 needs one to sign.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from sagemaker_rt_async._errors import ParamValidationError

__all__ = [
    "SIGNING_NAME",
    "Partition",
    "ResolvedEndpoint",
    "encode_label",
    "normalize_region",
    "operation_url",
    "parse_s3_uri",
    "partition_for",
    "resolve_bidi_endpoint",
    "resolve_endpoint",
    "s3_object_url",
]

SIGNING_NAME = "sagemaker"
"""SigV4 credential-scope service name (not the host label ``runtime.sagemaker``)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

# A region ends up as a DNS label of the host name; 63 is the DNS label limit.
_REGION_RE = re.compile(r"[a-z0-9](?:-*[a-z0-9])*", re.ASCII)
_MAX_REGION_LEN = 63


@dataclass(frozen=True, slots=True)
class Partition:
    """An AWS partition: its name and the DNS suffixes of its plain and dual-stack hosts."""

    name: str
    dns_suffix: str
    dualstack_dns_suffix: str


_AWS = Partition("aws", "amazonaws.com", "api.aws")

# botocore data/partitions.json, in file order (the order decides ties; the regexes happen to be
# mutually exclusive). Explicit region lists only matter for names no regex matches, which
# today are the "<partition>-global" pseudo-regions; those are all that is kept here.
# Regions reach these patterns only after _REGION_RE accepted them, so ``\w`` can only match
# [a-z0-9] and ``fullmatch`` is equivalent to botocore's ``re.match`` with ``$``.
_PARTITIONS: tuple[tuple[re.Pattern[str], frozenset[str], Partition], ...] = (
    (
        re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+", re.ASCII),
        frozenset({"aws-global"}),
        _AWS,
    ),
    (
        re.compile(r"cn\-\w+\-\d+", re.ASCII),
        frozenset({"aws-cn-global"}),
        Partition("aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
    ),
    (
        re.compile(r"eusc\-(de)\-\w+\-\d+", re.ASCII),
        frozenset(),
        Partition("aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu"),
    ),
    (
        re.compile(r"us\-iso\-\w+\-\d+", re.ASCII),
        frozenset({"aws-iso-global"}),
        Partition("aws-iso", "c2s.ic.gov", "api.aws.ic.gov"),
    ),
    (
        re.compile(r"us\-isob\-\w+\-\d+", re.ASCII),
        frozenset({"aws-iso-b-global"}),
        Partition("aws-iso-b", "sc2s.sgov.gov", "api.aws.scloud"),
    ),
    (
        re.compile(r"eu\-isoe\-\w+\-\d+", re.ASCII),
        frozenset({"aws-iso-e-global"}),
        Partition("aws-iso-e", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
    ),
    (
        re.compile(r"us\-isof\-\w+\-\d+", re.ASCII),
        frozenset({"aws-iso-f-global"}),
        Partition("aws-iso-f", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
    ),
    (
        re.compile(r"us\-gov\-\w+\-\d+", re.ASCII),
        frozenset({"aws-us-gov-global"}),
        Partition("aws-us-gov", "amazonaws.com", "api.aws"),
    ),
)

_GLOBAL_PSEUDO_REGIONS = frozenset(name for _, names, _ in _PARTITIONS for name in names)


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """Where SageMaker Runtime requests go and how they are signed.

    ``url`` is the base URL without a trailing slash (scheme, host and ``base_path``);
    ``host`` is lower-cased and carries ``:port`` only when the port is not the scheme's
    default: it is the value to sign as ``host`` and to send as ``Host``.
    """

    url: str
    scheme: str
    host: str
    base_path: str
    signing_region: str
    partition: str


def normalize_region(region: str) -> tuple[str, bool]:
    """Validate ``region`` and rewrite a FIPS pseudo-region; return ``(region, forced_fips)``.

    Like botocore, every ``fips-`` and ``-fips`` is removed and FIPS is then forced
    (``fips-us-east-1``, ``us-east-1-fips`` → ``("us-east-1", True)``). The result must be a
    DNS label: ``^[a-z0-9](-*[a-z0-9])*$``, at most 63 characters. Raises
    :class:`ParamValidationError` (``param="region"``) otherwise, "Missing Region" when empty.
    """
    if not region:
        raise ParamValidationError("region", "Invalid Configuration: Missing Region")
    plain = region.replace("fips-", "").replace("-fips", "")
    if not plain:
        raise ParamValidationError("region", f"{region!r} names no region, only FIPS")
    if len(plain) > _MAX_REGION_LEN or _REGION_RE.fullmatch(plain) is None:
        raise ParamValidationError(
            "region",
            f"{region!r} is not a valid region name "
            "(lower-case letters, digits and inner hyphens, at most 63 characters)",
        )
    return plain, plain != region


def partition_for(region: str) -> Partition:
    """Return the partition of an already validated ``region``; unknown regions are ``aws``.

    The first partition (in botocore's file order) whose explicit region list contains the
    region or whose region regex matches it wins.
    """
    for pattern, names, partition in _PARTITIONS:
        if region in names or pattern.fullmatch(region) is not None:
            return partition
    return _AWS


def resolve_endpoint(
    *,
    region: str | None,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
) -> ResolvedEndpoint:
    """Resolve the SageMaker Runtime endpoint, as the service's endpoint rule set does.

    Without ``endpoint_url`` (spec §1.2):

    * FIPS and dual-stack: ``https://runtime.sagemaker-fips.{region}.{dualStackDnsSuffix}``
    * FIPS: ``https://runtime-fips.sagemaker.{region}.amazonaws.com`` in ``aws``; the plain host
      in ``aws-us-gov`` (its endpoints are FIPS already); else
      ``https://runtime.sagemaker-fips.{region}.{dnsSuffix}``
    * dual-stack: ``https://runtime.sagemaker.{region}.{dualStackDnsSuffix}``
    * neither: ``https://runtime.sagemaker.{region}.{dnsSuffix}``

    With ``endpoint_url`` (spec §1.4) that URL is the base, path prefix kept (a trailing slash
    is dropped), scheme and host lower-cased, default port removed. It must be ``http`` or
    ``https`` with a host and no user info, query or fragment. Combined with ``use_fips`` or
    ``use_dualstack`` it raises: botocore silently ignores both flags when given an endpoint
    URL, but the caller asked for something a custom endpoint cannot give. A FIPS
    pseudo-region counts as ``use_fips``.

    ``region`` is required in both cases (it is the signing region) and may be a FIPS
    pseudo-region, see :func:`normalize_region`. Raises :class:`ParamValidationError` naming
    ``region``, ``endpoint_url``, ``use_fips`` or ``use_dualstack``.
    """
    if region is None:
        raise ParamValidationError("region", "Invalid Configuration: Missing Region")
    signing_region, forced_fips = normalize_region(region)
    partition = partition_for(signing_region)

    if endpoint_url is not None:
        _refuse_variants_with_endpoint_url(region, forced_fips, use_fips, use_dualstack)
        scheme, host, base_path = _parse_endpoint_url(endpoint_url)
        return ResolvedEndpoint(
            url=f"{scheme}://{host}{base_path}",
            scheme=scheme,
            host=host,
            base_path=base_path,
            signing_region=signing_region,
            partition=partition.name,
        )

    fips = use_fips or forced_fips
    if fips and use_dualstack:
        host = f"runtime.sagemaker-fips.{signing_region}.{partition.dualstack_dns_suffix}"
    elif fips and partition.name == "aws":
        host = f"runtime-fips.sagemaker.{signing_region}.amazonaws.com"
    elif fips and partition.name == "aws-us-gov":
        host = f"runtime.sagemaker.{signing_region}.amazonaws.com"
    elif fips:
        host = f"runtime.sagemaker-fips.{signing_region}.{partition.dns_suffix}"
    elif use_dualstack:
        host = f"runtime.sagemaker.{signing_region}.{partition.dualstack_dns_suffix}"
    else:
        host = f"runtime.sagemaker.{signing_region}.{partition.dns_suffix}"
    return ResolvedEndpoint(
        url=f"https://{host}",
        scheme="https",
        host=host,
        base_path="",
        signing_region=signing_region,
        partition=partition.name,
    )


# Partitions whose InvokeEndpointWithBidirectionalStream rule gives port 8443 and the
# ``runtime-fips.sagemaker`` label (bidirectional-stream spec §1.2 rule 3); any other partition
# (today aws-iso-e) falls back to the classic rules without a port (rule 4).
_BIDI_8443_PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-eusc", "aws-iso-f"}
)


def resolve_bidi_endpoint(
    *,
    region: str | None,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
) -> ResolvedEndpoint:
    """Resolve the endpoint of InvokeEndpointWithBidirectionalStream (its own rule set, spec §1).

    In the partitions aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc and aws-iso-f:
    ``https://runtime[-fips].sagemaker.{region}.{dnsSuffix or dualStackDnsSuffix}:8443`` (FIPS
    is the ``runtime-fips.sagemaker`` label everywhere, with no support checks). Elsewhere
    (aws-iso-e) the classic rules without a port: ``runtime.sagemaker[-fips].{region}.{dns}``.
    A custom ``endpoint_url`` is used as given (as :func:`resolve_endpoint` parses it).
    """
    if endpoint_url is not None or region is None:
        return resolve_endpoint(
            region=region,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            endpoint_url=endpoint_url,
        )
    signing_region, forced_fips = normalize_region(region)
    partition = partition_for(signing_region)
    fips = use_fips or forced_fips
    suffix = partition.dualstack_dns_suffix if use_dualstack else partition.dns_suffix
    if partition.name in _BIDI_8443_PARTITIONS:
        label = "runtime-fips.sagemaker" if fips else "runtime.sagemaker"
        host = f"{label}.{signing_region}.{suffix}:8443"
    else:
        label = "runtime.sagemaker-fips" if fips else "runtime.sagemaker"
        host = f"{label}.{signing_region}.{suffix}"
    return ResolvedEndpoint(
        url=f"https://{host}",
        scheme="https",
        host=host,
        base_path="",
        signing_region=signing_region,
        partition=partition.name,
    )


def encode_label(value: str) -> str:
    """Percent-encode a URI label the way botocore encodes ``{EndpointName}``.

    The value is UTF-8 encoded, then every byte except ``A-Z a-z 0-9 - . _ ~`` becomes
    ``%XX`` (upper-case hex). Raises :class:`ParamValidationError` (``endpoint_name``) for text
    that has no UTF-8 form (lone surrogates).
    """
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParamValidationError("endpoint_name", "is not encodable as UTF-8") from exc
    return quote(raw, safe="-._~")


_ENCODED_LABEL_RE = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+", re.ASCII)


def operation_url(
    endpoint: ResolvedEndpoint, endpoint_name_encoded: str, suffix: str
) -> tuple[str, str]:
    """Return ``(full URL, wire path)`` of an operation on the endpoint named by the label.

    The path is ``base_path + "/endpoints/" + label + "/" + suffix``; ``endpoint_name_encoded``
    must come from :func:`encode_label`. The labels ``.`` and ``..`` are refused
    (``endpoint_name``): path normalisation would change the request after signing (spec §5.2).
    """
    label = endpoint_name_encoded
    if _ENCODED_LABEL_RE.fullmatch(label) is None or label in (".", ".."):
        raise ParamValidationError("endpoint_name", f"{label!r} is not a usable encoded path label")
    path = f"{endpoint.base_path}/endpoints/{label}/{suffix}"
    return f"{endpoint.scheme}://{endpoint.host}{path}", path


# ---------------------------------------------------------------------------------------------
# S3 (async inference input and output objects)

# botocore's VALID_BUCKET: what S3 has ever accepted, including legacy us-east-1 names.
_BUCKET_RE = re.compile(r"[a-zA-Z0-9.\-_]{1,255}", re.ASCII)
# The S3 rule set's isVirtualHostableS3Bucket(bucket, false): one lower-case host label, 3-63.
_VIRTUAL_HOSTABLE_RE = re.compile(r"[a-z0-9][a-z0-9\-]{1,61}[a-z0-9]", re.ASCII)
# Directory buckets (S3 Express) and Outposts aliases live on other hosts with other auth.
_SPECIAL_BUCKET_SUFFIXES = ("--x-s3", "--xa-s3", "--op-s3")


def s3_object_url(
    *,
    bucket: str,
    key: str,
    region: str,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
    force_path_style: bool = False,
) -> tuple[str, str, str]:
    """Return ``(url, host, wire path)`` of an S3 object, as S3's endpoint rule set does.

    Virtual-hosted ``https://{bucket}.s3.{region}.{dnsSuffix}/{key}`` when the bucket is one
    lower-case DNS label (3–63 characters, so no ``.``, which would break the TLS certificate);
    path style ``https://s3.{region}.{dnsSuffix}/{bucket}/{key}`` otherwise or when
    ``force_path_style``. Regional hosts are used for ``us-east-1`` too. FIPS and dual-stack
    replace ``s3`` with ``s3-fips``, ``s3.dualstack`` or ``s3-fips.dualstack``; S3 has no FIPS
    endpoints in ``aws-cn``.

    The key is percent-encoded once, everything but unreserved characters and ``/`` escaped
    (``k=v+w~x*y`` → ``/k%3Dv%2Bw~x%2Ay``); S3 signs that path as sent, without normalisation.

    A custom ``endpoint_url`` (S3-compatible servers such as moto or MinIO) is always
    addressed path style under its path prefix: botocore would use virtual hosts on it unless
    the host is an IP address or path style is forced. It cannot be combined with FIPS or
    dual-stack. Raises :class:`ParamValidationError` naming ``bucket``, ``key``, ``region``,
    ``endpoint_url``, ``use_fips`` or ``use_dualstack``.
    """
    if _BUCKET_RE.fullmatch(bucket) is None:
        raise ParamValidationError(
            "bucket", f"{bucket!r} is not a valid bucket name (1-255 of A-Z a-z 0-9 . - _)"
        )
    if bucket.endswith(_SPECIAL_BUCKET_SUFFIXES):
        raise ParamValidationError(
            "bucket", f"{bucket!r}: S3 Express directory buckets and Outposts are not supported"
        )
    if not key:
        raise ParamValidationError("key", "an object key must not be empty")
    try:
        encoded_key = quote(key.encode("utf-8"), safe="/~")
    except UnicodeEncodeError as exc:
        raise ParamValidationError("key", "is not encodable as UTF-8") from exc

    plain_region, forced_fips = normalize_region(region)
    if endpoint_url is not None:
        _refuse_variants_with_endpoint_url(region, forced_fips, use_fips, use_dualstack)
        scheme, host, base_path = _parse_endpoint_url(endpoint_url)
        path = f"{base_path}/{bucket}/{encoded_key}"
        return f"{scheme}://{host}{path}", host, path

    if plain_region in _GLOBAL_PSEUDO_REGIONS:
        raise ParamValidationError(
            "region", f"{plain_region!r} is a global pseudo-region, not a bucket region"
        )
    partition = partition_for(plain_region)
    fips = use_fips or forced_fips
    if fips and partition.name == "aws-cn":
        raise ParamValidationError(
            "use_fips", f"S3 has no FIPS endpoints in partition {partition.name}"
        )
    service = "s3-fips" if fips else "s3"
    if use_dualstack:
        service += ".dualstack"
    s3_host = f"{service}.{plain_region}.{partition.dns_suffix}"
    if not force_path_style and _VIRTUAL_HOSTABLE_RE.fullmatch(bucket) is not None:
        host = f"{bucket}.{s3_host}"
        path = f"/{encoded_key}"
    else:
        host = s3_host
        path = f"/{bucket}/{encoded_key}"
    return f"https://{host}{path}", host, path


_KNOWN_DNS_SUFFIXES = tuple(
    sorted({p.dns_suffix for _, _, p in _PARTITIONS}, key=len, reverse=True)
)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split an S3 object URI into ``(bucket, key)``.

    ``s3://bucket/key``: the bucket is the authority and the key everything after the first
    ``/``, literally (not percent-decoded, ``?`` and ``#`` included), as SageMaker reports
    output locations (spec §8).

    ``https://`` object URLs on AWS S3 hosts: virtual-hosted (``bucket.s3.region.amazonaws.com``,
    ``bucket.s3.amazonaws.com``, also ``s3-fips``/``dualstack``/legacy ``s3-region`` hosts) and
    path style (``s3.region.amazonaws.com/bucket/key``). Their path is a URL path and so already
    percent-encoded: the key is percent-decoded once, which makes
    ``s3_object_url(parse_s3_uri(url))`` give back the URL.

    Raises :class:`ParamValidationError` (``s3_uri``) for anything else or an empty key.
    """
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("s3", "https"):
        raise ParamValidationError("s3_uri", f"{uri!r} is not an s3:// or https:// S3 URI")
    if scheme == "s3":
        bucket, slash, key = rest.partition("/")
    else:
        bucket, key = _parse_s3_https(uri, rest)
        slash = "/"
    if _BUCKET_RE.fullmatch(bucket) is None:
        raise ParamValidationError("s3_uri", f"{uri!r} does not name a valid bucket")
    if not slash or not key:
        raise ParamValidationError("s3_uri", f"{uri!r} names no object key")
    return bucket, key


def _parse_s3_https(uri: str, rest: str) -> tuple[str, str]:
    if any(c in rest for c in "?#@") or not rest.isascii():
        raise ParamValidationError(
            "s3_uri", f"{uri!r}: query, fragment, user info or non-ASCII are not supported"
        )
    authority, _, path = rest.partition("/")
    host = authority.lower()
    if host.endswith(":443"):
        host = host[: -len(":443")]
    labels: list[str] = []
    for suffix in _KNOWN_DNS_SUFFIXES:
        if host.endswith("." + suffix):
            labels = host[: -len(suffix) - 1].split(".")
            break
    # Count the labels of the S3 service part at the right end: s3 | s3-<region> |
    # s3[-fips].<region> | s3[-fips].dualstack.<region>.
    n = len(labels)
    if n >= 1 and labels[-1] == "s3":
        service_labels = 1
    elif n >= 2 and labels[-2] in ("s3", "s3-fips") and _REGION_RE.fullmatch(labels[-1]):
        service_labels = 2
    elif n >= 3 and labels[-3] in ("s3", "s3-fips") and labels[-2] == "dualstack":
        service_labels = 3
    elif n >= 1 and labels[-1].startswith("s3-") and _REGION_RE.fullmatch(labels[-1]):
        service_labels = 1
    else:
        raise ParamValidationError("s3_uri", f"{uri!r} is not an S3 object URL")
    bucket = ".".join(labels[:-service_labels])
    if not bucket:
        bucket, _, path = path.partition("/")
    return unquote(bucket), unquote(path)


# ---------------------------------------------------------------------------------------------
# Custom endpoint URLs

_HOSTNAME_RE = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*", re.ASCII)
# RFC 3986 path characters: unreserved, sub-delims, ":", "@", "/" and %XX escapes. Anything
# else would be re-encoded by the HTTP client after signing.
_PATH_RE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*", re.ASCII)


def _refuse_variants_with_endpoint_url(
    region: str, forced_fips: bool, use_fips: bool, use_dualstack: bool
) -> None:
    if forced_fips:
        raise ParamValidationError(
            "region",
            f"the FIPS pseudo-region {region!r} cannot be combined with endpoint_url",
        )
    if use_fips:
        raise ParamValidationError(
            "use_fips", "Invalid Configuration: FIPS and custom endpoint are not supported"
        )
    if use_dualstack:
        raise ParamValidationError(
            "use_dualstack",
            "Invalid Configuration: Dualstack and custom endpoint are not supported",
        )


def _parse_endpoint_url(endpoint_url: str) -> tuple[str, str, str]:
    """Validate a custom endpoint URL; return ``(scheme, host[:port], base_path)``."""

    def invalid(reason: str) -> ParamValidationError:
        return ParamValidationError("endpoint_url", f"{endpoint_url!r}: {reason}")

    # urlsplit silently drops tabs and newlines and strips spaces; refuse them instead.
    if not endpoint_url.isascii() or not endpoint_url.isprintable() or " " in endpoint_url:
        raise invalid("must be printable ASCII without spaces")
    if "?" in endpoint_url or "#" in endpoint_url:
        raise invalid("must not have a query or fragment")
    try:
        parts = urlsplit(endpoint_url)
    except ValueError as exc:  # an unbalanced IPv6 bracket
        raise invalid("is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise invalid("scheme must be http or https")
    if "@" in parts.netloc:
        raise invalid("must not carry user info")
    hostname = parts.hostname
    if not hostname:
        raise invalid("has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise invalid("has an invalid port") from exc
    if port == 0:
        raise invalid("has an invalid port")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError as exc:
            raise invalid("has an invalid IPv6 address") from exc
        host = f"[{hostname}]"
    elif _HOSTNAME_RE.fullmatch(hostname) is not None:
        host = hostname
    else:
        raise invalid("has an invalid host name")
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"

    path = parts.path
    if path.endswith("/"):
        path = path[:-1]
    if _PATH_RE.fullmatch(path) is None:
        raise invalid("path prefix has characters that need percent-encoding")
    if path and any(segment in ("", ".", "..") for segment in path[1:].split("/")):
        raise invalid("path prefix must not have empty, '.' or '..' segments")
    return scheme, host, path
