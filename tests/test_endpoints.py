"""Endpoint resolution: the spec's tables, and botocore's rule-set evaluator as the oracle.

botocore is used two ways: its ``EndpointProvider`` evaluated on the sagemaker-runtime and s3
endpoint rule sets (the exact logic the spec §1.2 transcribes), and real botocore clients whose
outgoing request URL is captured in a ``before-send`` hook (no network). Where we refuse what
botocore accepts, the test says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_rt_async._endpoints import (
    SIGNING_NAME,
    Partition,
    ResolvedEndpoint,
    encode_label,
    normalize_region,
    operation_url,
    parse_s3_uri,
    partition_for,
    resolve_endpoint,
    s3_object_url,
)
from sagemaker_rt_async._errors import ParamValidationError

botocore_session = pytest.importorskip("botocore.session")
botocore_auth = pytest.importorskip("botocore.auth")
botocore_config = pytest.importorskip("botocore.config")
botocore_utils = pytest.importorskip("botocore.utils")
endpoint_provider = pytest.importorskip("botocore.endpoint_provider")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

VARIANTS = [(False, False), (False, True), (True, False), (True, True)]
VARIANT_IDS = ["default", "dualstack", "fips", "fips+dualstack"]


# ---------------------------------------------------------------------------------------------
# Oracles


def _loader() -> Any:
    return botocore_session.get_session().get_component("data_loader")


@pytest.fixture(scope="module")
def partitions_data() -> Any:
    return _loader().load_data("partitions")


@pytest.fixture(scope="module")
def sm_provider(partitions_data: Any) -> Any:
    """botocore's evaluator on the sagemaker-runtime endpoint rule set."""
    ruleset = _loader().load_service_model("sagemaker-runtime", "endpoint-rule-set-1")
    return endpoint_provider.EndpointProvider(ruleset, partitions_data)


@pytest.fixture(scope="module")
def s3_provider(partitions_data: Any) -> Any:
    """botocore's evaluator on the s3 endpoint rule set."""
    ruleset = _loader().load_service_model("s3", "endpoint-rule-set-1")
    return endpoint_provider.EndpointProvider(ruleset, partitions_data)


@pytest.fixture
def isolated_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A botocore session that sees no AWS_* variables and no config or credentials files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return botocore_session.Session()


class _Captured(Exception):
    """Raised from botocore's before-send hook once the outgoing request is seen."""


def _capture_url(client: Any, call: Any) -> str:
    """Run ``call`` on a botocore client and return the URL it would have sent."""
    seen: list[str] = []

    def hook(request: Any, **_: Any) -> None:
        seen.append(str(request.url))
        raise _Captured

    client.meta.events.register("before-send", hook)
    try:
        with pytest.raises(_Captured):
            call()
    finally:
        client.meta.events.unregister("before-send", hook)
    assert len(seen) == 1
    return seen[0]


def _made_up_regions(partitions: Any) -> list[str]:
    """Regions no partition lists yet, built to match each partition's regex."""
    made_up: set[str] = set()
    for partition in partitions["partitions"]:
        regex = partition["regionRegex"]
        for region in partition["regions"]:
            if re.match(regex, region):
                head, _, _ = region.rsplit("-", 2)
                made_up.add(f"{head}-newzone-97")
        alternation = re.match(r"\^\(([a-z|]+)\)", regex)
        if alternation:
            made_up.update(f"{prefix}-newzone-5" for prefix in alternation.group(1).split("|"))
    for region in made_up:
        assert any(re.match(p["regionRegex"], region) for p in partitions["partitions"]), region
    return sorted(made_up)


# Regions no partition claims (so they fall back to aws), and near misses of the regexes.
UNCLAIMED_REGIONS = [
    "xx-newregion-1",
    "local",
    "a",
    "1",
    "us-east",
    "us-gov-1",
    "cn-1",
    "eusc-fr-east-1",
    "us-isoz-east-1",
    "useast1",
    "us--east--1",
]


def _all_regions(partitions: Any) -> list[str]:
    listed = [r for p in partitions["partitions"] for r in p["regions"]]
    return sorted(set(listed) | set(_made_up_regions(partitions)) | set(UNCLAIMED_REGIONS))


def _sm_oracle_url(provider: Any, **params: Any) -> str:
    return str(provider.resolve_endpoint(**params).url)


# ---------------------------------------------------------------------------------------------
# Spec §1.3: the resolved hostnames table, verbatim

SPEC_1_3 = [
    (
        "us-east-1",
        "runtime.sagemaker.us-east-1.amazonaws.com",
        "runtime.sagemaker.us-east-1.api.aws",
        "runtime-fips.sagemaker.us-east-1.amazonaws.com",
        "runtime.sagemaker-fips.us-east-1.api.aws",
    ),
    (
        "eu-west-1",
        "runtime.sagemaker.eu-west-1.amazonaws.com",
        "runtime.sagemaker.eu-west-1.api.aws",
        "runtime-fips.sagemaker.eu-west-1.amazonaws.com",
        "runtime.sagemaker-fips.eu-west-1.api.aws",
    ),
    (
        "ap-southeast-7",
        "runtime.sagemaker.ap-southeast-7.amazonaws.com",
        "runtime.sagemaker.ap-southeast-7.api.aws",
        "runtime-fips.sagemaker.ap-southeast-7.amazonaws.com",
        "runtime.sagemaker-fips.ap-southeast-7.api.aws",
    ),
    (
        "xx-newregion-1",
        "runtime.sagemaker.xx-newregion-1.amazonaws.com",
        "runtime.sagemaker.xx-newregion-1.api.aws",
        "runtime-fips.sagemaker.xx-newregion-1.amazonaws.com",
        "runtime.sagemaker-fips.xx-newregion-1.api.aws",
    ),
    (
        "us-gov-west-1",
        "runtime.sagemaker.us-gov-west-1.amazonaws.com",
        "runtime.sagemaker.us-gov-west-1.api.aws",
        "runtime.sagemaker.us-gov-west-1.amazonaws.com",
        "runtime.sagemaker-fips.us-gov-west-1.api.aws",
    ),
    (
        "us-gov-east-1",
        "runtime.sagemaker.us-gov-east-1.amazonaws.com",
        "runtime.sagemaker.us-gov-east-1.api.aws",
        "runtime.sagemaker.us-gov-east-1.amazonaws.com",
        "runtime.sagemaker-fips.us-gov-east-1.api.aws",
    ),
    (
        "cn-north-1",
        "runtime.sagemaker.cn-north-1.amazonaws.com.cn",
        "runtime.sagemaker.cn-north-1.api.amazonwebservices.com.cn",
        "runtime.sagemaker-fips.cn-north-1.amazonaws.com.cn",
        "runtime.sagemaker-fips.cn-north-1.api.amazonwebservices.com.cn",
    ),
    (
        "cn-northwest-1",
        "runtime.sagemaker.cn-northwest-1.amazonaws.com.cn",
        "runtime.sagemaker.cn-northwest-1.api.amazonwebservices.com.cn",
        "runtime.sagemaker-fips.cn-northwest-1.amazonaws.com.cn",
        "runtime.sagemaker-fips.cn-northwest-1.api.amazonwebservices.com.cn",
    ),
    (
        "eusc-de-east-1",
        "runtime.sagemaker.eusc-de-east-1.amazonaws.eu",
        "runtime.sagemaker.eusc-de-east-1.api.amazonwebservices.eu",
        "runtime.sagemaker-fips.eusc-de-east-1.amazonaws.eu",
        "runtime.sagemaker-fips.eusc-de-east-1.api.amazonwebservices.eu",
    ),
    (
        "us-iso-east-1",
        "runtime.sagemaker.us-iso-east-1.c2s.ic.gov",
        "runtime.sagemaker.us-iso-east-1.api.aws.ic.gov",
        "runtime.sagemaker-fips.us-iso-east-1.c2s.ic.gov",
        "runtime.sagemaker-fips.us-iso-east-1.api.aws.ic.gov",
    ),
    (
        "us-isob-east-1",
        "runtime.sagemaker.us-isob-east-1.sc2s.sgov.gov",
        "runtime.sagemaker.us-isob-east-1.api.aws.scloud",
        "runtime.sagemaker-fips.us-isob-east-1.sc2s.sgov.gov",
        "runtime.sagemaker-fips.us-isob-east-1.api.aws.scloud",
    ),
    (
        "eu-isoe-west-1",
        "runtime.sagemaker.eu-isoe-west-1.cloud.adc-e.uk",
        "runtime.sagemaker.eu-isoe-west-1.api.cloud-aws.adc-e.uk",
        "runtime.sagemaker-fips.eu-isoe-west-1.cloud.adc-e.uk",
        "runtime.sagemaker-fips.eu-isoe-west-1.api.cloud-aws.adc-e.uk",
    ),
    (
        "us-isof-south-1",
        "runtime.sagemaker.us-isof-south-1.csp.hci.ic.gov",
        "runtime.sagemaker.us-isof-south-1.api.aws.hci.ic.gov",
        "runtime.sagemaker-fips.us-isof-south-1.csp.hci.ic.gov",
        "runtime.sagemaker-fips.us-isof-south-1.api.aws.hci.ic.gov",
    ),
]


def _spec_1_3_cases() -> Iterator[Any]:
    for region, *hosts in SPEC_1_3:
        for (fips, dualstack), variant, host in zip(VARIANTS, VARIANT_IDS, hosts, strict=True):
            yield pytest.param(region, fips, dualstack, host, id=f"{region}-{variant}")


def test_spec_table_has_13_regions_by_4_variants() -> None:
    """The §1.3 table is transcribed whole: 13 regions, 4 hosts each."""
    assert len(SPEC_1_3) == 13
    assert len(list(_spec_1_3_cases())) == 52


@pytest.mark.parametrize(("region", "fips", "dualstack", "host"), list(_spec_1_3_cases()))
def test_spec_1_3_resolved_hostnames(region: str, fips: bool, dualstack: bool, host: str) -> None:
    """Every cell of spec §1.3 resolves to exactly that https host, signed for the region."""
    endpoint = resolve_endpoint(region=region, use_fips=fips, use_dualstack=dualstack)
    assert endpoint == ResolvedEndpoint(
        url=f"https://{host}",
        scheme="https",
        host=host,
        base_path="",
        signing_region=region,
        partition=partition_for(region).name,
    )


def test_signing_name_is_sagemaker() -> None:
    """The credential scope uses ``sagemaker``, not the host label (spec §1.1)."""
    assert SIGNING_NAME == "sagemaker"


# ---------------------------------------------------------------------------------------------
# Differential: botocore's EndpointProvider on the sagemaker-runtime rule set


def test_rule_set_differential_all_regions(sm_provider: Any, partitions_data: Any) -> None:
    """For every listed, made-up and unclaimed region × FIPS × dual-stack, our URL is the rule
    set's URL, and our partition (name and suffixes) is botocore's ``aws.partition`` result."""
    stdlib = endpoint_provider.RuleSetStandardLibrary(partitions_data)
    regions = _all_regions(partitions_data)
    assert len(regions) > 60
    mismatches = []
    for region in regions:
        oracle_partition = stdlib.aws_partition(region)
        ours = partition_for(region)
        assert ours == Partition(
            name=oracle_partition["name"],
            dns_suffix=oracle_partition["dnsSuffix"],
            dualstack_dns_suffix=oracle_partition["dualStackDnsSuffix"],
        ), region
        for fips, dualstack in VARIANTS:
            theirs = _sm_oracle_url(
                sm_provider, Region=region, UseFIPS=fips, UseDualStack=dualstack
            )
            endpoint = resolve_endpoint(region=region, use_fips=fips, use_dualstack=dualstack)
            if endpoint.url != theirs:
                mismatches.append((region, fips, dualstack, endpoint.url, theirs))
            assert endpoint.signing_region == region
            assert endpoint.partition == oracle_partition["name"]
    assert mismatches == []


def test_partitions_are_walked_in_file_order(partitions_data: Any) -> None:
    """Our partition table has botocore's partitions, in partitions.json order (first match
    wins), and every partition supports FIPS and dual-stack (so the rule set's "partition does
    not support" branches are unreachable, as spec §1.2 says)."""
    from sagemaker_rt_async import _endpoints

    ours = [partition.name for _, _, partition in _endpoints._PARTITIONS]
    assert ours == [p["id"] for p in partitions_data["partitions"]]
    for p in partitions_data["partitions"]:
        assert p["outputs"]["supportsFIPS"] is True
        assert p["outputs"]["supportsDualStack"] is True
        mine = next(rx for rx, _, part in _endpoints._PARTITIONS if part.name == p["id"])
        assert "^" + mine.pattern + "$" == p["regionRegex"]


CUSTOM_ENDPOINTS = [
    "http://localhost:8080",
    "http://localhost:8080/prefix",
    "https://vpce-0123-abcd.runtime.sagemaker.us-east-1.vpce.amazonaws.com",
    "http://127.0.0.1:8080/a/b",
    "http://[::1]:8080/prefix",
]


@pytest.mark.parametrize("endpoint_url", CUSTOM_ENDPOINTS)
def test_rule_set_differential_custom_endpoint(sm_provider: Any, endpoint_url: str) -> None:
    """With ``Endpoint`` set the rule set returns it verbatim, and so do we (for URLs already in
    canonical form); FIPS or dual-stack with it is an error in both, naming the same flag."""
    assert _sm_oracle_url(sm_provider, Region="us-east-1", Endpoint=endpoint_url) == endpoint_url
    assert resolve_endpoint(region="us-east-1", endpoint_url=endpoint_url).url == endpoint_url
    for fips, dualstack, param, message in [
        (True, False, "use_fips", "FIPS and custom endpoint"),
        (True, True, "use_fips", "FIPS and custom endpoint"),
        (False, True, "use_dualstack", "Dualstack and custom endpoint"),
    ]:
        with pytest.raises(botocore_exceptions.EndpointResolutionError, match=message):
            sm_provider.resolve_endpoint(
                Region="us-east-1", Endpoint=endpoint_url, UseFIPS=fips, UseDualStack=dualstack
            )
        with pytest.raises(ParamValidationError, match=message) as excinfo:
            resolve_endpoint(
                region="us-east-1",
                endpoint_url=endpoint_url,
                use_fips=fips,
                use_dualstack=dualstack,
            )
        assert excinfo.value.param == param


def test_missing_region_matches_rule_set_error(sm_provider: Any) -> None:
    """No region is the rule set's "Missing Region" error. With a custom endpoint the rule set
    accepts no region, but we still need one to sign, so we refuse (a deliberate difference)."""
    with pytest.raises(botocore_exceptions.EndpointResolutionError, match="Missing Region"):
        sm_provider.resolve_endpoint()
    for region in (None, ""):
        with pytest.raises(ParamValidationError, match="Missing Region") as excinfo:
            resolve_endpoint(region=region)
        assert excinfo.value.param == "region"
    assert _sm_oracle_url(sm_provider, Endpoint="http://h:1") == "http://h:1"
    with pytest.raises(ParamValidationError, match="Missing Region"):
        resolve_endpoint(region=None, endpoint_url="http://h:1")


# ---------------------------------------------------------------------------------------------
# Pseudo-regions and malformed regions

PSEUDO_REGIONS = [
    ("fips-us-east-1", "us-east-1"),
    ("us-east-1-fips", "us-east-1"),
    ("us-gov-west-1-fips", "us-gov-west-1"),
    ("fips-us-gov-west-1", "us-gov-west-1"),
    ("fips-eu-west-1", "eu-west-1"),
    ("fips-cn-north-1", "cn-north-1"),
    ("fips-us-iso-east-1", "us-iso-east-1"),
    ("us-fips-east-1", "us-east-1"),  # botocore removes "fips-" anywhere, so do we
]


@pytest.mark.parametrize(("pseudo", "plain"), PSEUDO_REGIONS)
def test_normalize_region_rewrites_fips_pseudo_regions(pseudo: str, plain: str) -> None:
    """A FIPS pseudo-region becomes the plain region with FIPS forced."""
    assert normalize_region(pseudo) == (plain, True)
    assert normalize_region(plain) == (plain, False)


@pytest.mark.parametrize(("pseudo", "plain"), PSEUDO_REGIONS)
def test_pseudo_region_matches_botocore_client(
    isolated_session: Any, pseudo: str, plain: str
) -> None:
    """A botocore client on a pseudo-region uses the plain region's FIPS host and signs for the
    plain region; we resolve the same URL and signing region."""
    client = isolated_session.create_client(
        "sagemaker-runtime",
        region_name=pseudo,
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )
    endpoint = resolve_endpoint(region=pseudo)
    assert endpoint.url == client.meta.endpoint_url
    assert endpoint.signing_region == client.meta.region_name == plain
    assert endpoint == resolve_endpoint(region=plain, use_fips=True)


def test_pseudo_region_with_endpoint_url_is_refused() -> None:
    """A FIPS pseudo-region asks for FIPS, which a custom endpoint cannot give (botocore drops
    the request silently)."""
    with pytest.raises(ParamValidationError, match="pseudo-region") as excinfo:
        resolve_endpoint(region="fips-us-east-1", endpoint_url="http://localhost:8080")
    assert excinfo.value.param == "region"


MALFORMED_REGIONS = [
    pytest.param("", "Missing Region", id="empty"),
    pytest.param("US-EAST-1", "not a valid region", id="uppercase"),
    pytest.param("Us-east-1", "not a valid region", id="mixed-case"),
    pytest.param("us east 1", "not a valid region", id="spaces"),
    pytest.param(" us-east-1", "not a valid region", id="leading-space"),
    pytest.param("us_east_1", "not a valid region", id="underscores"),
    pytest.param("../x", "not a valid region", id="dot-dot-slash"),
    pytest.param("us-east-1.evil.com", "not a valid region", id="dots"),
    pytest.param("us-east-1/", "not a valid region", id="slash"),
    pytest.param("us-east-1-", "not a valid region", id="trailing-hyphen"),
    pytest.param("-us-east-1", "not a valid region", id="leading-hyphen"),
    pytest.param("us-east-1\n", "not a valid region", id="trailing-newline"),
    pytest.param("us-éast-1", "not a valid region", id="non-ascii"),
    pytest.param("us-east-١", "not a valid region", id="arabic-digit"),
    pytest.param("a" * 64, "not a valid region", id="64-chars"),
    pytest.param("fips-", "names no region", id="fips-marker-only"),
    pytest.param("-fips", "names no region", id="fips-suffix-only"),
]


@pytest.mark.parametrize(("region", "message"), MALFORMED_REGIONS)
def test_malformed_regions_are_refused(region: str, message: str) -> None:
    """Anything that is not a lower-case DNS label (after the FIPS rewrite) is refused with a
    ParamValidationError naming ``region``, before it can reach a host name."""
    with pytest.raises(ParamValidationError, match=message) as excinfo:
        resolve_endpoint(region=region)
    assert excinfo.value.param == "region"
    with pytest.raises(ParamValidationError):
        normalize_region(region)


@pytest.mark.parametrize("region", ["us-east-1", "a", "1", "a--b", "x" * 63, "fips"])
def test_valid_region_labels_are_accepted(region: str) -> None:
    """Every DNS label of at most 63 characters is a usable region (unknown ones are aws)."""
    assert normalize_region(region) == (region, False)


# ---------------------------------------------------------------------------------------------
# Custom endpoint_url

CUSTOM_ENDPOINT_CASES = [
    # (endpoint_url, url, host, base_path)
    ("http://localhost:8080", "http://localhost:8080", "localhost:8080", ""),
    ("http://localhost:8080/", "http://localhost:8080", "localhost:8080", ""),
    ("http://localhost:8080/prefix", "http://localhost:8080/prefix", "localhost:8080", "/prefix"),
    ("http://localhost:8080/prefix/", "http://localhost:8080/prefix", "localhost:8080", "/prefix"),
    ("http://h/a/b%20c/", "http://h/a/b%20c", "h", "/a/b%20c"),
    ("http://127.0.0.1:80", "http://127.0.0.1", "127.0.0.1", ""),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080", ""),
    ("http://127.0.0.1:443", "http://127.0.0.1:443", "127.0.0.1:443", ""),
    ("https://example.com:443/p", "https://example.com/p", "example.com", "/p"),
    ("https://example.com:80", "https://example.com:80", "example.com:80", ""),
    ("https://example.com:8443", "https://example.com:8443", "example.com:8443", ""),
    ("http://[::1]:8080", "http://[::1]:8080", "[::1]:8080", ""),
    ("http://[::1]:80/x/", "http://[::1]/x", "[::1]", "/x"),
    ("http://[::1]", "http://[::1]", "[::1]", ""),
    ("HTTP://LocalHost:8080/Prefix", "http://localhost:8080/Prefix", "localhost:8080", "/Prefix"),
    ("http://my_host.docker:9000", "http://my_host.docker:9000", "my_host.docker:9000", ""),
]


@pytest.mark.parametrize(("endpoint_url", "url", "host", "base_path"), CUSTOM_ENDPOINT_CASES)
def test_custom_endpoint_url(endpoint_url: str, url: str, host: str, base_path: str) -> None:
    """A custom endpoint is the base URL with its path prefix (one trailing slash dropped);
    ``host`` is lower-cased with the port only when it is not the scheme's default, exactly
    botocore's signed ``host`` value; signing still uses the configured region."""
    endpoint = resolve_endpoint(region="eu-west-1", endpoint_url=endpoint_url)
    assert endpoint == ResolvedEndpoint(
        url=url,
        scheme=url.split(":", 1)[0],
        host=host,
        base_path=base_path,
        signing_region="eu-west-1",
        partition="aws",
    )
    assert endpoint.host == botocore_auth._host_from_url(endpoint_url)


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "http://localhost:8080/prefix",
        "http://localhost:8080/prefix/",
        "http://LocalHost:8080/Prefix/",
        "http://127.0.0.1:80",
        "https://example.com:443/a/b/",
        "http://[::1]:8080/p",
        "http://h/a/b%20c",
    ],
)
@pytest.mark.parametrize("name", ["my-endpoint", "a b/ü", "x~y.z_1"])
def test_operation_url_matches_botocore_client(
    isolated_session: Any, endpoint_url: str, name: str
) -> None:
    """A botocore client given ``endpoint_url`` sends InvokeEndpoint to the same path (prefix
    kept, with or without trailing slash, name label-encoded) and signs the same ``host``."""
    client = isolated_session.create_client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )
    sent = _capture_url(client, lambda: client.invoke_endpoint(EndpointName=name, Body=b"{}"))
    endpoint = resolve_endpoint(region="us-east-1", endpoint_url=endpoint_url)
    url, path = operation_url(endpoint, encode_label(name), "invocations")
    assert sent.endswith(path)
    assert botocore_auth._host_from_url(sent) == endpoint.host
    assert botocore_auth._host_from_url(url) == endpoint.host


INVALID_ENDPOINT_URLS = [
    pytest.param("localhost:8080", id="no-scheme"),
    pytest.param("ftp://localhost", id="ftp"),
    pytest.param("ws://localhost", id="ws"),
    pytest.param("http://", id="no-host"),
    pytest.param("http:///path", id="empty-host"),
    pytest.param("http://:8080", id="port-only"),
    pytest.param("http://localhost:8080?x=1", id="query"),
    pytest.param("http://localhost:8080/p?", id="empty-query"),
    pytest.param("http://localhost/#frag", id="fragment"),
    pytest.param("http://user:pass@localhost", id="userinfo"),
    pytest.param("http://user@localhost", id="user"),
    pytest.param("http://localhost:99999", id="port-range"),
    pytest.param("http://localhost:0", id="port-zero"),
    pytest.param("http://localhost:http", id="port-name"),
    pytest.param("http://local host", id="space-in-host"),
    pytest.param(" http://localhost", id="leading-space"),
    pytest.param("http://localhost\n/x", id="newline"),
    pytest.param("http://local\thost", id="tab"),
    pytest.param("http://bücher.example", id="idn"),
    pytest.param("http://[::1/x", id="unclosed-bracket"),
    pytest.param("http://[not-ipv6]:80", id="bad-ipv6"),
    pytest.param("http://localhost/a b", id="space-in-path"),
    pytest.param("http://localhost/a%zz", id="bad-escape"),
    pytest.param("http://localhost/a//b", id="empty-segment"),
    pytest.param("http://localhost/a/../b", id="dot-dot-segment"),
    pytest.param("http://localhost/./b", id="dot-segment"),
    pytest.param("http://localhost//", id="double-trailing-slash"),
    pytest.param("http://localhost/ä", id="non-ascii-path"),
]


@pytest.mark.parametrize("endpoint_url", INVALID_ENDPOINT_URLS)
def test_invalid_endpoint_urls_are_refused(endpoint_url: str) -> None:
    """A custom endpoint must be http(s) with a host, a valid port, no user info, query or
    fragment, and a plain path prefix (so the path we sign is the path we send)."""
    with pytest.raises(ParamValidationError) as excinfo:
        resolve_endpoint(region="us-east-1", endpoint_url=endpoint_url)
    assert excinfo.value.param == "endpoint_url"


# ---------------------------------------------------------------------------------------------
# Labels and operation URLs

LABEL_CASES = [
    ("my-endpoint", "my-endpoint"),
    ("A-Za-z0-9-._~", "A-Za-z0-9-._~"),
    ("a b", "a%20b"),
    ("a/b", "a%2Fb"),
    ("a+b=c&d", "a%2Bb%3Dc%26d"),
    ("%41", "%2541"),
    ("ü", "%C3%BC"),
    ("😀", "%F0%9F%98%80"),
    ("", ""),
    (".", "."),
]


@pytest.mark.parametrize(("value", "encoded"), LABEL_CASES)
def test_encode_label(value: str, encoded: str) -> None:
    """Every byte but ``A-Z a-z 0-9 - . _ ~`` of the UTF-8 form becomes upper-case ``%XX``."""
    assert encode_label(value) == encoded


def test_encode_label_matches_botocore_for_every_ascii_and_some_unicode() -> None:
    """Our label encoding is botocore's ``percent_encode`` (the {EndpointName} serializer)."""
    samples = [chr(c) for c in range(128)] + ["ü", "€", "😀", "\u0000x", "a b/c?d#e%f"]
    samples.append("".join(chr(c) for c in range(32, 127)))
    for value in samples:
        assert encode_label(value) == botocore_utils.percent_encode(value), repr(value)


def test_encode_label_refuses_lone_surrogates() -> None:
    """Text with no UTF-8 form is a ParamValidationError, not a UnicodeEncodeError."""
    with pytest.raises(ParamValidationError) as excinfo:
        encode_label("a\ud800")
    assert excinfo.value.param == "endpoint_name"


OPERATION_URL_CASES = [
    # (endpoint_url or None for us-east-1, label, suffix, url, path)
    (
        None,
        "my-ep",
        "invocations",
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my-ep/invocations",
        "/endpoints/my-ep/invocations",
    ),
    (
        None,
        "a%20b",
        "invocations-response-stream",
        "https://runtime.sagemaker.us-east-1.amazonaws.com"
        "/endpoints/a%20b/invocations-response-stream",
        "/endpoints/a%20b/invocations-response-stream",
    ),
    (
        "http://127.0.0.1:8080/prefix/",
        "ep",
        "async-invocations",
        "http://127.0.0.1:8080/prefix/endpoints/ep/async-invocations",
        "/prefix/endpoints/ep/async-invocations",
    ),
    (
        "http://[::1]:80",
        "ep",
        "invocations",
        "http://[::1]/endpoints/ep/invocations",
        "/endpoints/ep/invocations",
    ),
]


@pytest.mark.parametrize(("endpoint_url", "label", "suffix", "url", "path"), OPERATION_URL_CASES)
def test_operation_url(
    endpoint_url: str | None, label: str, suffix: str, url: str, path: str
) -> None:
    """The wire path is ``base_path + /endpoints/ + label + / + suffix`` and the URL is the
    scheme and host in front of it."""
    endpoint = resolve_endpoint(region="us-east-1", endpoint_url=endpoint_url)
    assert operation_url(endpoint, label, suffix) == (url, path)


@pytest.mark.parametrize("label", ["", ".", "..", "a/b", "a b", "a%2", "a%zz", "ü", "a%2f"])
def test_operation_url_refuses_unusable_labels(label: str) -> None:
    """Only an :func:`encode_label` result other than ``.``/``..`` is accepted: anything else
    would be re-encoded or normalised after signing (spec §5.2)."""
    endpoint = resolve_endpoint(region="us-east-1")
    with pytest.raises(ParamValidationError) as excinfo:
        operation_url(endpoint, label, "invocations")
    assert excinfo.value.param == "endpoint_name"


# ---------------------------------------------------------------------------------------------
# S3 object URLs

S3_URL_CASES = [
    pytest.param(
        {"bucket": "my-bucket", "key": "async-out/abc 1.out", "region": "us-west-2"},
        "https://my-bucket.s3.us-west-2.amazonaws.com/async-out/abc%201.out",
        id="virtual-hosted",
    ),
    pytest.param(
        {"bucket": "my-bucket", "key": "k=v+w~x*y", "region": "us-west-2"},
        "https://my-bucket.s3.us-west-2.amazonaws.com/k%3Dv%2Bw~x%2Ay",
        id="spec-5.4-key-encoding",
    ),
    pytest.param(
        {"bucket": "my-bucket", "key": "a/b//c/./../d", "region": "us-east-1"},
        "https://my-bucket.s3.us-east-1.amazonaws.com/a/b//c/./../d",
        id="us-east-1-regional-no-normalisation",
    ),
    pytest.param(
        {"bucket": "my.dotted.bucket", "key": "x", "region": "eu-west-1"},
        "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/x",
        id="dotted-path-style",
    ),
    pytest.param(
        {"bucket": "My_Bucket", "key": "x", "region": "us-east-1"},
        "https://s3.us-east-1.amazonaws.com/My_Bucket/x",
        id="legacy-name-path-style",
    ),
    pytest.param(
        {"bucket": "ab", "key": "x", "region": "us-east-1"},
        "https://s3.us-east-1.amazonaws.com/ab/x",
        id="too-short-for-dns",
    ),
    pytest.param(
        {"bucket": "my-bucket", "key": "x", "region": "us-east-1", "force_path_style": True},
        "https://s3.us-east-1.amazonaws.com/my-bucket/x",
        id="forced-path-style",
    ),
    pytest.param(
        {"bucket": "b-1", "key": "ü?#", "region": "cn-north-1"},
        "https://b-1.s3.cn-north-1.amazonaws.com.cn/%C3%BC%3F%23",
        id="aws-cn",
    ),
    pytest.param(
        {"bucket": "bkt", "key": "x", "region": "us-east-1", "use_fips": True},
        "https://bkt.s3-fips.us-east-1.amazonaws.com/x",
        id="fips",
    ),
    pytest.param(
        {"bucket": "bkt", "key": "x", "region": "fips-us-east-1"},
        "https://bkt.s3-fips.us-east-1.amazonaws.com/x",
        id="fips-pseudo-region",
    ),
    pytest.param(
        {"bucket": "bkt", "key": "x", "region": "us-east-1", "use_dualstack": True},
        "https://bkt.s3.dualstack.us-east-1.amazonaws.com/x",
        id="dualstack",
    ),
    pytest.param(
        {
            "bucket": "bkt",
            "key": "x",
            "region": "us-gov-west-1",
            "use_fips": True,
            "use_dualstack": True,
        },
        "https://bkt.s3-fips.dualstack.us-gov-west-1.amazonaws.com/x",
        id="fips-dualstack",
    ),
    pytest.param(
        {"bucket": "my-bucket", "key": "in/x.json", "region": "us-east-1",
         "endpoint_url": "http://127.0.0.1:5000"},
        "http://127.0.0.1:5000/my-bucket/in/x.json",
        id="custom-endpoint",
    ),
    pytest.param(
        {"bucket": "my-bucket", "key": "k=v", "region": "us-east-1",
         "endpoint_url": "http://LocalHost:9000/minio/"},
        "http://localhost:9000/minio/my-bucket/k%3Dv",
        id="custom-endpoint-prefix-path-style",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "url"), S3_URL_CASES)
def test_s3_object_url(kwargs: dict[str, Any], url: str) -> None:
    """S3 addressing per spec §5.4: virtual host for one-label lower-case buckets, path style
    otherwise; the key encoded once with ``/`` kept; custom endpoints always path style. The
    returned host and path are the URL's own."""
    got_url, host, path = s3_object_url(**kwargs)
    assert got_url == url
    scheme, rest = url.split("://", 1)
    assert got_url == f"{scheme}://{host}{path}"
    assert host == rest.split("/", 1)[0]
    assert path.startswith("/")


def _s3_oracle(provider: Any, params: dict[str, Any]) -> tuple[Any, str | None]:
    """The S3 rule set's endpoint for ``params``, or its error message."""
    try:
        return provider.resolve_endpoint(**params), None
    except botocore_exceptions.EndpointResolutionError as exc:
        return None, str(exc)


S3_BUCKETS = ["my-bucket", "my.dotted.bucket", "My_Bucket", "ab", "a" * 63, "a" * 64, "1-2-3"]


def test_s3_differential_against_rule_set(s3_provider: Any, partitions_data: Any) -> None:
    """For listed and made-up regions × buckets × FIPS × dual-stack × path style, our host and
    path prefix are the S3 rule set's (UseGlobalEndpoint false: regional hosts). Where the rule
    set errors (FIPS in aws-cn) we raise ParamValidationError naming ``use_fips``. The
    ``*-global`` pseudo-regions are refused on purpose (not bucket regions)."""
    regions = [r for r in _all_regions(partitions_data) if not r.endswith("-global")]
    compared = refused = 0
    for region in regions:
        for bucket in S3_BUCKETS:
            for fips, dualstack in VARIANTS:
                for path_style in (False, True):
                    params = {
                        "Bucket": bucket,
                        "Region": region,
                        "UseFIPS": fips,
                        "UseDualStack": dualstack,
                        "ForcePathStyle": path_style,
                        "UseGlobalEndpoint": False,
                    }
                    kwargs: dict[str, Any] = {
                        "bucket": bucket,
                        "key": "k",
                        "region": region,
                        "use_fips": fips,
                        "use_dualstack": dualstack,
                        "force_path_style": path_style,
                    }
                    theirs, error = _s3_oracle(s3_provider, params)
                    if error is not None:
                        assert "does not support FIPS" in error
                        with pytest.raises(ParamValidationError) as excinfo:
                            s3_object_url(**kwargs)
                        assert excinfo.value.param == "use_fips"
                        refused += 1
                        continue
                    url, _, _ = s3_object_url(**kwargs)
                    assert url == f"{theirs.url}/k", params
                    scheme = theirs.properties["authSchemes"][0]
                    assert (scheme["signingName"], scheme["signingRegion"]) == ("s3", region)
                    compared += 1
    assert compared > 3000
    assert refused > 0


@pytest.mark.parametrize("region", ["aws-global", "aws-cn-global", "aws-us-gov-global"])
def test_s3_refuses_global_pseudo_regions(region: str) -> None:
    """A ``*-global`` name is not a bucket region (the rule set would invent a host for it)."""
    with pytest.raises(ParamValidationError) as excinfo:
        s3_object_url(bucket="my-bucket", key="k", region=region)
    assert excinfo.value.param == "region"


def test_s3_custom_endpoint_matches_rule_set_path_style(s3_provider: Any) -> None:
    """With a custom endpoint and path style forced, the S3 rule set gives endpoint + prefix +
    bucket, as we do; we use path style even when not forced (S3-compatible servers), where
    botocore would use virtual hosts on a named host."""
    for endpoint_url in ("http://127.0.0.1:5000", "http://localhost:9000/pre", "https://minio"):
        for bucket in ("my-bucket", "my.dotted.bucket"):
            theirs = s3_provider.resolve_endpoint(
                Bucket=bucket, Region="us-east-1", Endpoint=endpoint_url, ForcePathStyle=True
            )
            for force in (False, True):
                url, _, _ = s3_object_url(
                    bucket=bucket,
                    key="k",
                    region="us-east-1",
                    endpoint_url=endpoint_url,
                    force_path_style=force,
                )
                assert url == f"{theirs.url}/k"


S3_KEYS = [
    "k=v+w~x*y",
    "async-out/abc 1.out",
    "a b/ü?#%2F",
    "x//./../y",
    "".join(chr(c) for c in range(32, 127)),
    "emoji/😀",
]


@pytest.mark.parametrize(
    ("region", "endpoint_url"),
    [("us-west-2", None), ("us-east-1", None), ("cn-north-1", None), ("us-east-1", "http://127.0.0.1:5000/pre/")],
)  # fmt: skip
@pytest.mark.parametrize("bucket", ["my-bucket", "my.dotted.bucket", "My_Bucket"])
def test_s3_object_url_matches_botocore_s3_client(
    isolated_session: Any, region: str, endpoint_url: str | None, bucket: str
) -> None:
    """botocore's S3 client (regional us-east-1, path style on custom endpoints) sends
    GetObject to exactly our URL for every key: same host, same once-encoded path."""
    config = botocore_config.Config(
        s3={"us_east_1_regional_endpoint": "regional", "addressing_style": "auto"}
        if endpoint_url is None
        else {"addressing_style": "path"}
    )
    client = isolated_session.create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=config,
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )
    for key in S3_KEYS:
        sent = _capture_url(client, lambda key=key: client.get_object(Bucket=bucket, Key=key))
        url, _, path = s3_object_url(
            bucket=bucket, key=key, region=region, endpoint_url=endpoint_url
        )
        assert url == sent
        assert path == "/" + sent.split("://", 1)[1].split("/", 1)[1]
        assert path.endswith("/" + botocore_utils.percent_encode(key, safe="/~"))


INVALID_S3_ARGS = [
    pytest.param({"bucket": ""}, "bucket", id="empty-bucket"),
    pytest.param({"bucket": "a/b"}, "bucket", id="slash-in-bucket"),
    pytest.param({"bucket": "arn:aws:s3:us-east-1:123:accesspoint/ap"}, "bucket", id="arn"),
    pytest.param({"bucket": "a" * 256}, "bucket", id="bucket-too-long"),
    pytest.param({"bucket": "dir--usw2-az1--x-s3"}, "bucket", id="s3-express"),
    pytest.param({"bucket": "alias--op-s3"}, "bucket", id="outposts-alias"),
    pytest.param({"key": ""}, "key", id="empty-key"),
    pytest.param({"key": "a\ud800"}, "key", id="lone-surrogate"),
    pytest.param({"region": "US-EAST-1"}, "region", id="bad-region"),
    pytest.param({"region": "cn-north-1", "use_fips": True}, "use_fips", id="fips-in-aws-cn"),
    pytest.param({"region": "fips-cn-north-1"}, "use_fips", id="fips-pseudo-in-aws-cn"),
    pytest.param({"endpoint_url": "ftp://x"}, "endpoint_url", id="bad-endpoint"),
    pytest.param({"endpoint_url": "http://x", "use_fips": True}, "use_fips", id="fips-custom"),
    pytest.param(
        {"endpoint_url": "http://x", "use_dualstack": True}, "use_dualstack", id="ds-custom"
    ),
]


@pytest.mark.parametrize(("overrides", "param"), INVALID_S3_ARGS)
def test_s3_object_url_refusals(overrides: dict[str, Any], param: str) -> None:
    """Bad S3 arguments raise ParamValidationError naming the argument."""
    kwargs: dict[str, Any] = {"bucket": "my-bucket", "key": "k", "region": "us-east-1"}
    kwargs.update(overrides)
    with pytest.raises(ParamValidationError) as excinfo:
        s3_object_url(**kwargs)
    assert excinfo.value.param == param


# ---------------------------------------------------------------------------------------------
# S3 URIs

S3_URI_CASES = [
    ("s3://bkt/key", "bkt", "key"),
    ("s3://bkt/a/b/c.out", "bkt", "a/b/c.out"),
    ("s3://bkt/a%20b", "bkt", "a%20b"),  # literal: s3:// keys are not percent-decoded
    ("s3://bkt/a b?x=1#f", "bkt", "a b?x=1#f"),
    ("s3://bkt//lead", "bkt", "/lead"),
    ("s3://my.dotted.bucket/k", "my.dotted.bucket", "k"),
    ("S3://bkt/k", "bkt", "k"),
    ("https://bkt.s3.us-west-2.amazonaws.com/async-out/abc%201.out", "bkt", "async-out/abc 1.out"),
    ("https://bkt.s3.amazonaws.com/k", "bkt", "k"),
    ("https://s3.us-west-2.amazonaws.com/bkt/a/b", "bkt", "a/b"),
    ("https://s3.amazonaws.com/bkt/k", "bkt", "k"),
    ("https://bkt.s3-us-west-2.amazonaws.com/k", "bkt", "k"),
    ("https://s3-external-1.amazonaws.com/bkt/k", "bkt", "k"),
    ("https://bkt.s3-fips.us-east-1.amazonaws.com/k", "bkt", "k"),
    ("https://bkt.s3.dualstack.us-east-1.amazonaws.com/k", "bkt", "k"),
    ("https://s3-fips.dualstack.us-east-1.amazonaws.com/bkt/k", "bkt", "k"),
    ("https://bkt.s3.cn-north-1.amazonaws.com.cn/k%3Dv%2Bw", "bkt", "k=v+w"),
    ("https://bkt.s3.us-iso-east-1.c2s.ic.gov/k", "bkt", "k"),
    ("https://s3.s3.us-east-1.amazonaws.com/k", "s3", "k"),
    ("https://my.dotted.bucket.s3.us-east-1.amazonaws.com/k", "my.dotted.bucket", "k"),
    ("https://BKT.S3.US-WEST-2.AMAZONAWS.COM:443/K", "bkt", "K"),
]  # fmt: skip


@pytest.mark.parametrize(("uri", "bucket", "key"), S3_URI_CASES)
def test_parse_s3_uri(uri: str, bucket: str, key: str) -> None:
    """``s3://`` keys are taken literally; ``https://`` keys are URL paths, decoded once."""
    assert parse_s3_uri(uri) == (bucket, key)


@pytest.mark.parametrize(
    "url",
    [
        "https://my-bucket.s3.us-west-2.amazonaws.com/async-out/abc%201.out",
        "https://my-bucket.s3.us-west-2.amazonaws.com/k%3Dv%2Bw~x%2Ay",
        "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/a/%C3%BC%3F%23%252F",
    ],
)
def test_parse_s3_uri_round_trips_https_urls(url: str) -> None:
    """An https object URL parsed and rebuilt with :func:`s3_object_url` is the same URL."""
    bucket, key = parse_s3_uri(url)
    region = url.split(".amazonaws.com")[0].rsplit(".", 1)[1]
    assert s3_object_url(bucket=bucket, key=key, region=region)[0] == url


INVALID_S3_URIS = [
    "",
    "bkt/key",
    "s3:/bkt/key",
    "s3://",
    "s3://bkt",
    "s3://bkt/",
    "s3:///key",
    "s3://b@d/key",
    "gs://bkt/key",
    "http://bkt.s3.amazonaws.com/k",
    "https://example.com/bkt/k",
    "https://amazonaws.com/bkt/k",
    "https://bkt.s3.us-west-2.amazonaws.com/",
    "https://bkt.s3.us-west-2.amazonaws.com",
    "https://s3.us-west-2.amazonaws.com/bkt",
    "https://s3.us-west-2.amazonaws.com/bkt/",
    "https://s3.us-west-2.amazonaws.com//k",
    "https://bkt.s3.us-west-2.amazonaws.com/k?versionId=1",
    "https://bkt.s3.us-west-2.amazonaws.com/k#f",
    "https://u@bkt.s3.us-west-2.amazonaws.com/k",
    "https://bkt.s3.us-west-2.amazonaws.com:8443/k",
    "https://ap-123.s3-accesspoint.us-west-2.amazonaws.com/k",
    "https://bkt.s3.us-west-2.amazonaws.com/ü",
]


@pytest.mark.parametrize("uri", INVALID_S3_URIS)
def test_parse_s3_uri_refusals(uri: str) -> None:
    """Anything but an S3 object URI (bucket and non-empty key) is a ParamValidationError
    naming ``s3_uri``."""
    with pytest.raises(ParamValidationError) as excinfo:
        parse_s3_uri(uri)
    assert excinfo.value.param == "s3_uri"
