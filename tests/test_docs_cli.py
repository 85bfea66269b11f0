"""The terminal sessions the docs show, run and compared with what the docs say they print.

A ``console`` block right after ``<!-- docs-test: cli -->`` (an HTML comment, invisible once
rendered) is a terminal session: each line starting with ``$ `` is a command, and the lines
after it, up to the next command, are exactly what it prints, stdout and stderr interleaved as a
terminal shows them. ``...`` in an expected line stands for any text on that line (request ids,
job ids, timings). The commands run in-process through ``main()`` of ``sagemaker-rt``, in a
fresh directory holding a copy of the repository's ``examples/``, against:

* the fake ``sagemaker-rt serve-fake`` serves (its toy models, on loopback), with the environment
  its banner tells a reader to export (``AWS_ENDPOINT_URL``, ``AWS_REGION``, test keys);
* a ``FakeBidiServer`` for ``sagemaker-rt bidi``, standing for ``http://127.0.0.1:8443``
  (what ``serve-fake --bidi-port 8443`` serves).

A command is ``sagemaker-rt ARGS`` with optionally ``printf 'TEXT' |`` or ``echo 'TEXT' |``
before it (its stdin; ``printf`` escapes ``\\n``) and ``> FILE`` after it (stdout to a file,
only stderr shown); ``echo $?`` prints the previous command's exit code. Anything else (a
background ``&``, other programs) makes the block fail: show those in an unchecked block.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagemaker_rt_async.cli import demo_fake, main
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer, LoopbackServer
from sagemaker_rt_async.testing import FakeSageMakerRuntime as _Fake

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIDI_URL = "http://127.0.0.1:8443"  # what the docs call the bidirectional fake

_SESSION = re.compile(
    r"^<!-- docs-test: cli -->\n```console\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}  # printf's, as far as the docs use them
_PIPE = re.compile(r"^(?P<tool>printf|echo) (?P<arg>'[^']*'|\"[^\"]*\") \| (?P<rest>.*)$")


@dataclass(frozen=True)
class Command:
    """One ``$`` line of a session and what it must print."""

    where: str
    line: str
    expected: list[str]


def sessions() -> list[Command]:
    """Every checked command of every page, in page order."""
    found: list[Command] = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in _SESSION.finditer(text):
            first = text.count("\n", 0, match.start("code")) + 1
            current: Command | None = None
            for offset, line in enumerate(match["code"].splitlines()):
                if line.startswith("$ "):
                    where = f"{page.relative_to(ROOT)}:{first + offset}"
                    current = Command(where, line[2:], [])
                    found.append(current)
                else:
                    assert current is not None, f"{page}:{first + offset}: output before a command"
                    current.expected.append(line)
    return found


def matches(expected: str, actual: str) -> bool:
    """``actual`` is ``expected`` with each ``...`` standing for any text."""
    pattern = ".*".join(re.escape(piece) for piece in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LoopbackServer[_Fake], FakeBidiServer]]:
    """The fakes of ``serve-fake`` (async results after 0.2 s) and of ``--bidi-port``."""
    fake = demo_fake(processing_time=0.2, accept_any_credentials=True)
    with fake.serve() as http, FakeBidiServer() as bidi:
        yield http, bidi


class Terminal:
    """Runs the commands of one session in one directory; remembers the last exit code."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, bidi_url: str) -> None:
        self.monkeypatch = monkeypatch
        self.bidi_url = bidi_url
        self.code = 0

    def run(self, line: str) -> list[str]:
        """Run one command line; what a terminal would show."""
        if line == "echo $?":
            return [str(self.code)]
        stdin: bytes | None = None
        piped = _PIPE.match(line)
        if piped:
            text = shlex.split(piped["arg"])[0]
            if piped["tool"] == "printf":
                text = re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m[1]], text)
            else:
                text += "\n"
            stdin, line = text.encode(), piped["rest"]
        argv = shlex.split(line.replace(BIDI_URL, self.bidi_url))
        target: str | None = None
        if len(argv) > 2 and argv[-2] == ">":
            target, argv = argv[-1], argv[:-2]
        assert argv and argv[0] == "sagemaker-rt", f"not a sagemaker-rt command: {line!r}"
        assert "&" not in argv and "|" not in argv, f"unsupported shell syntax: {line!r}"
        assert argv[1:2] != ["serve-fake"], "serve-fake runs until stopped: show it unchecked"
        shown = io.BytesIO()
        terminal = io.TextIOWrapper(shown, "utf-8", write_through=True)
        # Without a redirection stdout and stderr are one stream, in the order written.
        out = io.TextIOWrapper(io.BytesIO(), "utf-8", write_through=True) if target else terminal
        self.monkeypatch.setattr(sys, "stdout", out)
        self.monkeypatch.setattr(sys, "stderr", terminal)
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin or b""), "utf-8"))
        try:
            self.code = main(argv[1:])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        if target is not None:
            Path(target).write_bytes(out.buffer.getvalue())
        return shown.getvalue().decode("utf-8").splitlines()


def test_the_pages_hold_checked_sessions() -> None:
    """The extraction finds the sessions (a renamed directive would silently check nothing)."""
    commands = sessions()
    assert len(commands) >= 10
    assert all(c.line.split()[0] in ("sagemaker-rt", "echo", "printf") for c in commands)


def test_every_documented_session_prints_what_the_docs_show(
    servers: tuple[LoopbackServer[_Fake], FakeBidiServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Each command prints, line for line, what its page shows, and exits as the page says.

    A reworded error, a renamed flag, a changed output format or an example that stopped working
    fails here, naming the page and line.
    """
    http, bidi = servers
    for name in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", http.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS.secret_access_key)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    terminal = Terminal(monkeypatch, bidi.url)
    failures: list[str] = []
    for command in sessions():
        shown = terminal.run(command.line)
        same = len(shown) == len(command.expected) and all(
            matches(e, a) for e, a in zip(command.expected, shown, strict=True)
        )
        if not same:
            failures.append(
                f"{command.where}: $ {command.line}\n  docs:\n    "
                + "\n    ".join(command.expected)
                + "\n  printed:\n    "
                + "\n    ".join(shown)
            )
    assert not failures, "\n".join(failures)
