"""botocore as the oracle for configuration: the same environment and files resolve the same way.

Each case is an environment, a shared config file, a shared credentials file and constructor
arguments. botocore creates a ``sagemaker-runtime`` and an ``s3`` client from them; our client
is constructed from the same inputs. Compared: the signing region, the SageMaker Runtime
endpoint URL (FIPS / dual-stack / configured endpoints included), the S3 endpoint, the retry
mode and total attempts, the CA bundle, the proxy TLS settings (``proxies_config``), or the kind
of error both raise.

botocore reads ``proxies_config`` from ``Config(proxies_config=...)`` only: its config store
knows ``proxy_ca_bundle``, ``proxy_client_cert`` and ``proxy_use_forwarding_for_https`` but
client creation never asks it (boto/botocore#2707). The ``proxy-*-in-*`` cases put them in the
shared config file and environment: both clients ignore them.

Where we differ on purpose the oracle's input is adjusted and the case says why:
* ``AWS_REGION``: botocore reads only ``AWS_DEFAULT_REGION``; we read ``AWS_REGION`` first, as
  the AWS CLI v2 and the other SDKs do. The oracle gets AWS_REGION as AWS_DEFAULT_REGION.
* retries: botocore's default and ``legacy`` mode have no counterpart here (ours is standard
  mode, 3 attempts, the default of the other SDKs), so ``legacy`` and no mode compare as
  ``standard`` and no total as 3.
* S3 in us-east-1: botocore's default sends to the legacy global ``s3.amazonaws.com``; we use
  the regional host, as S3's endpoint rules do (``_endpoints.s3_object_url``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._endpoints import s3_object_url

CREDS = ("AKIDCONFIGTEST", "secret-never-shown")


@dataclass(frozen=True)
class Case:
    id: str
    env: dict[str, str] = field(default_factory=dict)
    config: str = ""
    credentials: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("nothing-no-region"),
    Case("aws-default-region", env={"AWS_DEFAULT_REGION": "eu-west-1"}),
    Case("aws-region-ours-only", env={"AWS_REGION": "eu-west-2"}),
    Case(
        "aws-region-beats-default-region",
        env={"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-1"},
    ),
    Case("default-profile-region", config="[default]\nregion = ap-south-1\n"),
    Case(
        "env-region-beats-profile",
        env={"AWS_DEFAULT_REGION": "eu-west-1"},
        config="[default]\nregion = ap-south-1\n",
    ),
    Case(
        "argument-region-beats-env",
        env={"AWS_DEFAULT_REGION": "eu-west-1"},
        kwargs={"region": "us-east-2"},
    ),
    Case(
        "aws-profile-selects-profile",
        env={"AWS_PROFILE": "dev"},
        config="[default]\nregion = ap-south-1\n[profile dev]\nregion = ca-central-1\n",
    ),
    Case(
        "aws-default-profile-beats-aws-profile",
        env={"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "prod"},
        config="[profile dev]\nregion = ca-central-1\n[profile prod]\nregion = sa-east-1\n",
    ),
    Case(
        "profile-argument-beats-env",
        env={"AWS_PROFILE": "dev"},
        config="[profile dev]\nregion = ca-central-1\n[profile prod]\nregion = sa-east-1\n",
        kwargs={"profile": "prod"},
    ),
    Case("missing-profile-from-env", env={"AWS_PROFILE": "nope"}, config="[default]\n"),
    Case("missing-profile-argument", config="[default]\n", kwargs={"profile": "nope"}),
    Case(
        "profile-only-in-credentials-file",
        env={"AWS_PROFILE": "keys"},
        credentials="[keys]\naws_access_key_id = AKID\naws_secret_access_key = s\n"
        "region = eu-north-1\n",
    ),
    Case(
        "credentials-file-value-wins-for-same-profile",
        env={"AWS_PROFILE": "dev"},
        config="[profile dev]\nregion = ca-central-1\n",
        credentials="[dev]\nregion = eu-north-1\n",
    ),
    Case(
        "later-default-section-wins",
        config="[default]\nregion = eu-west-3\n[profile default]\nregion = eu-central-1\n",
    ),
    Case(
        "quoted-profile-name",
        env={"AWS_PROFILE": "team a"},
        config='[profile "team a"]\nregion = us-west-1\n',
    ),
    Case(
        "global-endpoint-env",
        env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://localhost:4566"},
    ),
    Case(
        "service-endpoint-env-beats-global",
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://localhost:4566",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://localhost:8080",
        },
    ),
    Case(
        "s3-endpoint-env-only",
        env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://localhost:9000"},
    ),
    Case(
        "profile-endpoint-url",
        config="[default]\nregion = us-east-1\nendpoint_url = http://localhost:7000\n",
    ),
    Case(
        "services-section",
        config="[default]\nregion = us-east-1\nservices = local\n"
        "[services local]\nsagemaker_runtime =\n  endpoint_url = http://localhost:7001\n"
        "s3 =\n  endpoint_url = http://localhost:7002\n",
    ),
    Case(
        "services-section-beats-profile-endpoint",
        config="[default]\nregion = us-east-1\nservices = local\n"
        "endpoint_url = http://localhost:7000\n"
        "[services local]\nsagemaker_runtime =\n  endpoint_url = http://localhost:7001\n",
    ),
    Case(
        "global-env-beats-services-section",
        env={"AWS_ENDPOINT_URL": "http://localhost:4566"},
        config="[default]\nregion = us-east-1\nservices = local\n"
        "[services local]\nsagemaker_runtime =\n  endpoint_url = http://localhost:7001\n",
    ),
    Case(
        "services-section-missing",
        config="[default]\nregion = us-east-1\nservices = gone\n",
    ),
    Case(
        "services-section-for-another-service",
        config="[default]\nregion = us-east-1\nservices = local\n"
        "endpoint_url = http://localhost:7000\n"
        "[services local]\ns3 =\n  endpoint_url = http://localhost:7002\n",
    ),
    Case(
        "ignore-env-drops-env-endpoints",
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://localhost:4566",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
        },
    ),
    Case(
        "ignore-key-drops-file-endpoints",
        config="[default]\nregion = us-east-1\nignore_configured_endpoint_urls = true\n"
        "services = local\nendpoint_url = http://localhost:7000\n"
        "[services local]\nsagemaker_runtime =\n  endpoint_url = http://localhost:7001\n",
    ),
    Case(
        "ignore-env-false-beats-key-true",
        env={"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"},
        config="[default]\nregion = us-east-1\nignore_configured_endpoint_urls = true\n"
        "endpoint_url = http://localhost:7000\n",
    ),
    Case(
        "ignore-upper-case-true",
        env={"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE", "AWS_ENDPOINT_URL": "http://h:1"},
        config="[default]\nregion = us-east-1\n",
    ),
    Case(
        "endpoint-argument-beats-ignore",
        env={"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_DEFAULT_REGION": "us-east-1"},
        kwargs={"endpoint_url": "http://localhost:6000"},
    ),
    Case(
        "profile-region-with-endpoint-env",  # the report: the profile's region is used
        env={"AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://localhost:8"},
        config="[profile dev]\nregion = eu-west-1\n",
    ),
    Case(
        "default-profile-region-with-endpoint-argument",
        config="[default]\nregion = eu-west-1\n",
        kwargs={"endpoint_url": "http://localhost:8"},
    ),
    Case("fips-env", env={"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "true"}),
    Case(
        "fips-env-any-case",
        env={"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "True"},
    ),
    Case(
        "fips-env-not-true", env={"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "1"}
    ),
    Case("fips-profile", config="[default]\nregion = us-west-2\nuse_fips_endpoint = true\n"),
    Case(
        "fips-env-false-beats-profile-true",
        env={"AWS_USE_FIPS_ENDPOINT": "false"},
        config="[default]\nregion = us-west-2\nuse_fips_endpoint = true\n",
    ),
    Case(
        "fips-argument-false-beats-env",
        env={"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "true"},
        kwargs={"use_fips": False},
    ),
    Case(
        "dualstack-env",
        env={"AWS_DEFAULT_REGION": "eu-west-1", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
    ),
    Case(
        "fips-and-dualstack-profile",
        config="[default]\nregion = us-east-1\nuse_fips_endpoint = true\n"
        "use_dualstack_endpoint = true\n",
    ),
    Case(
        "configured-fips-dropped-with-endpoint",
        env={"AWS_USE_FIPS_ENDPOINT": "true", "AWS_ENDPOINT_URL": "http://localhost:4566"},
        config="[default]\nregion = us-east-1\nuse_dualstack_endpoint = true\n",
    ),
    Case(
        "govcloud-fips",
        env={"AWS_DEFAULT_REGION": "us-gov-west-1", "AWS_USE_FIPS_ENDPOINT": "true"},
    ),
    Case(
        "china-dualstack",
        env={"AWS_DEFAULT_REGION": "cn-north-1", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
    ),
    Case("max-attempts-env", env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "5"}),
    Case("max-attempts-profile", config="[default]\nregion = us-east-1\nmax_attempts = 7\n"),
    Case(
        "max-attempts-env-beats-profile",
        env={"AWS_MAX_ATTEMPTS": "2"},
        config="[default]\nregion = us-east-1\nmax_attempts = 7\n",
    ),
    Case(
        "retry-mode-adaptive", env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_RETRY_MODE": "adaptive"}
    ),
    Case(
        "retry-mode-env-beats-profile",
        env={"AWS_RETRY_MODE": "legacy"},
        config="[default]\nregion = us-east-1\nretry_mode = adaptive\nmax_attempts = 4\n",
    ),
    Case("retry-mode-invalid", env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_RETRY_MODE": "fast"}),
    Case("max-attempts-invalid", env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "x"}),
    Case(
        "retry-argument-beats-env",
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "9",
            "AWS_RETRY_MODE": "adaptive",
        },
        kwargs={"retry": sm.Retry(mode="standard", max_attempts=2)},
    ),
    Case(
        "ca-bundle-env", env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_CA_BUNDLE": "{tmp}/env.pem"}
    ),
    Case("ca-bundle-profile", config="[default]\nregion = us-east-1\nca_bundle = {tmp}/file.pem\n"),
    Case(
        "ca-bundle-env-beats-profile",
        env={"AWS_CA_BUNDLE": "{tmp}/env.pem"},
        config="[default]\nregion = us-east-1\nca_bundle = {tmp}/file.pem\n",
    ),
    Case(
        "proxy-keys-in-profile-ignored",
        config="[default]\nregion = us-east-1\nproxy_ca_bundle = {tmp}/file.pem\n"
        "proxy_client_cert = {tmp}/file.pem\nproxy_use_forwarding_for_https = true\n",
    ),
    Case(
        "proxy-keys-in-nested-proxies-config-ignored",
        config="[default]\nregion = us-east-1\nproxies_config =\n"
        "  proxy_ca_bundle = {tmp}/file.pem\n  proxy_use_forwarding_for_https = true\n",
    ),
    Case(
        "proxy-keys-in-env-ignored",
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_PROXY_CA_BUNDLE": "{tmp}/env.pem",
            "PROXY_CA_BUNDLE": "{tmp}/env.pem",
        },
    ),
    Case(
        "proxies-config-argument",
        config="[default]\nregion = us-east-1\nproxy_ca_bundle = {tmp}/file.pem\n",
        kwargs={
            "proxies_config": {
                "proxy_ca_bundle": "/etc/proxy-ca.pem",
                "proxy_client_cert": ("/etc/proxy-client.pem", "/etc/proxy-client.key"),
                "proxy_use_forwarding_for_https": False,
            }
        },
    ),
    Case(
        "proxies-config-argument-client-cert-path",
        env={"AWS_DEFAULT_REGION": "us-east-1"},
        kwargs={"proxies_config": {"proxy_client_cert": "/etc/proxy-client.pem"}},
    ),
    Case(
        "everything-conflicting",
        env={
            "AWS_PROFILE": "dev",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_S3": "http://localhost:9000",
            "AWS_MAX_ATTEMPTS": "4",
        },
        config="[default]\nregion = us-east-1\nmax_attempts = 8\n"
        "[profile dev]\nregion = ap-northeast-1\nretry_mode = adaptive\nservices = dev\n"
        "use_dualstack_endpoint = true\n"
        "[services dev]\nsagemaker_runtime =\n  endpoint_url = http://localhost:7001\n",
        credentials="[dev]\naws_access_key_id = AKID\naws_secret_access_key = s\n",
    ),
]

# Every name the cases or the developer's shell may set, cleared before each case.
_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_CA_BUNDLE",
    "AWS_DEFAULTS_MODE",
    "AWS_PROXY_CA_BUNDLE",
    "PROXY_CA_BUNDLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)

_BOTOCORE_ERRORS = {
    "NoRegionError": "NoRegion",
    "ProfileNotFound": "CredentialsError",
    "InvalidConfigError": "ParamValidationError",
    "InvalidRetryModeError": "ParamValidationError",
    "ValueError": "ParamValidationError",  # int("x") for AWS_MAX_ATTEMPTS
}


def _setup(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(case.config.replace("{tmp}", str(tmp_path)))
    credentials.write_text(case.credentials.replace("{tmp}", str(tmp_path)))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name, value in case.env.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    for pem in ("env.pem", "file.pem"):
        (tmp_path / pem).write_text("")


_CA_BUNDLE_KEY = re.compile(r"^ca_bundle\s*=", re.M)  # not proxy_ca_bundle


def _s3_base(url: str) -> str:
    return url.removesuffix("/my.bucket/k")  # a dotted bucket: path style, the bare endpoint


def _ours(case: Case) -> tuple[object, ...] | str:
    try:
        rt = sm.SageMakerRuntimeClient(credentials=CREDS, **case.kwargs)
    except sm.ParamValidationError as exc:
        return "NoRegion" if exc.param == "region" else "ParamValidationError"
    except sm.CredentialsError:
        return "CredentialsError"
    config = rt.config
    if config.region is None:
        return "NoRegion"
    fips, dualstack = config.variants(config.s3_endpoint_url)
    s3_url, _, _ = s3_object_url(
        bucket="my.bucket",
        key="k",
        region=config.region,
        use_fips=fips,
        use_dualstack=dualstack,
        endpoint_url=config.s3_endpoint_url,
    )
    return (
        rt.region,
        rt.endpoint_url,
        _s3_base(s3_url),
        config.retry.mode,
        config.retry.max_attempts,
        config.ca_bundle,
        config.proxy_ca_bundle,
        config.proxy_client_cert,
        False,  # proxy_use_forwarding_for_https: True is refused, never resolved
    )


def _botocore(case: Case) -> tuple[object, ...] | str:
    if "AWS_REGION" in os.environ:  # we read it, botocore does not (module docstring)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    kwargs = dict(case.kwargs)
    config_kwargs: dict[str, Any] = {}
    if "use_fips" in kwargs:
        config_kwargs["use_fips_endpoint"] = kwargs.pop("use_fips")
    if "proxies_config" in kwargs:
        config_kwargs["proxies_config"] = kwargs.pop("proxies_config")
    if "retry" in kwargs:
        retry: sm.Retry = kwargs.pop("retry")
        config_kwargs["retries"] = {"mode": retry.mode, "total_max_attempts": retry.max_attempts}
    profile = kwargs.pop("profile", None)
    region = kwargs.pop("region", None)
    endpoint_url = kwargs.pop("endpoint_url", None)
    assert not kwargs, f"case argument without a botocore counterpart: {kwargs}"
    try:
        session = botocore.session.Session(profile=profile)
        clients = [
            session.create_client(
                service,
                region_name=region,
                endpoint_url=endpoint_url if service == "sagemaker-runtime" else None,
                aws_access_key_id=CREDS[0],
                aws_secret_access_key=CREDS[1],
                config=botocore.config.Config(**config_kwargs),
            )
            for service in ("sagemaker-runtime", "s3")
        ]
    except Exception as exc:
        return _BOTOCORE_ERRORS.get(type(exc).__name__, type(exc).__name__)
    sagemaker, s3 = clients
    retries = sagemaker.meta.config.retries
    mode = {"legacy": "standard"}.get(retries["mode"], retries["mode"])
    verify = sagemaker._endpoint.http_session._verify
    proxy_settings = sagemaker._endpoint.http_session._proxy_config.settings
    s3_url = s3.meta.endpoint_url
    if s3_url == "https://s3.amazonaws.com":  # regional on purpose (module docstring)
        s3_url = "https://s3.us-east-1.amazonaws.com"
    return (
        sagemaker.meta.region_name,
        sagemaker.meta.endpoint_url,
        s3_url,
        mode,
        retries.get("total_max_attempts", 3),
        verify if os.environ.get("AWS_CA_BUNDLE") or _CA_BUNDLE_KEY.search(case.config) else None,
        proxy_settings.get("proxy_ca_bundle"),
        proxy_settings.get("proxy_client_cert"),
        bool(proxy_settings.get("proxy_use_forwarding_for_https")),
    )


def test_the_matrix_is_large_enough() -> None:
    """The issue asks for at least 40 cases, including conflicting sources."""
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resolution_matches_botocore(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our client resolves region, endpoints, retries and CA bundle as botocore does."""
    _setup(case, tmp_path, monkeypatch)
    ours = _ours(case)
    theirs = _botocore(case)
    assert ours == theirs


SOURCES = [
    (
        {"AWS_REGION": "eu-west-2"},
        "[default]\nregion = us-east-1\n",
        {},
        {"region": "env AWS_REGION", "profile": "default"},
    ),
    (
        {"AWS_PROFILE": "dev"},
        "[profile dev]\nregion = us-east-1\nservices = s\n"
        "[services s]\nsagemaker_runtime =\n  endpoint_url = http://localhost:1\n",
        {},
        {
            "region": "profile 'dev' in {config}",
            "profile": "env AWS_PROFILE",
            "endpoint_url": "services 's' in {config}",
        },
    ),
    (
        {"AWS_MAX_ATTEMPTS": "6"},
        "[default]\nregion = us-east-1\nretry_mode = adaptive\n",
        {"profile": "default"},
        {
            "profile": "argument",
            "retry": "retry_mode in profile 'default' in {config}, env AWS_MAX_ATTEMPTS",
        },
    ),
]


@pytest.mark.parametrize(("env", "config", "kwargs", "expected"), SOURCES)
def test_config_says_where_each_setting_came_from(
    env: dict[str, str],
    config: str,
    kwargs: dict[str, Any],
    expected: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``client.config.source(name)`` names the argument, variable or file section used."""
    _setup(Case("sources", env=env, config=config), tmp_path, monkeypatch)
    rt = sm.SageMakerRuntimeClient(credentials=CREDS, **kwargs)
    for name, where in expected.items():
        assert rt.config.source(name) == where.format(config=tmp_path / "config")


def test_config_and_repr_hold_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret key of the credentials file and of the argument never show in the config."""
    _setup(
        Case(
            "secrets",
            env={"AWS_PROFILE": "dev"},
            config="[profile dev]\nregion = us-east-1\n",
            credentials="[dev]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = file-secret-xyz\naws_session_token = file-token-xyz\n",
        ),
        tmp_path,
        monkeypatch,
    )
    rt = sm.SageMakerRuntimeClient(credentials=CREDS)
    text = repr(rt) + repr(rt.config) + str(rt.config.sources)
    for secret in ("file-secret-xyz", "file-token-xyz", CREDS[1]):
        assert secret not in text
    assert "us-east-1" in repr(rt) and "env AWS_PROFILE" in repr(rt)


def test_missing_profile_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile that exists in neither file: a CredentialsError with its name and the files."""
    _setup(Case("missing", env={"AWS_PROFILE": "typo-profile"}), tmp_path, monkeypatch)
    with pytest.raises(sm.CredentialsError) as info:
        sm.SageMakerRuntimeClient(credentials=CREDS)
    message = str(info.value)
    assert "'typo-profile'" in message and "env AWS_PROFILE" in message
    assert str(tmp_path / "config") in message


def test_retry_settings_reach_the_attempt_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_MAX_ATTEMPTS / AWS_RETRY_MODE become the client's default ``Retry``."""
    _setup(
        Case("retry", env={"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "adaptive"}),
        tmp_path,
        monkeypatch,
    )
    rt = sm.SageMakerRuntimeClient(region="us-east-1", credentials=CREDS)
    assert rt._retry == sm.Retry(mode="adaptive", max_attempts=1)
