"""The `personae` command, run in-process (CliRunner) and as the installed console script."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from personae.cli import app
from up_process import free_port

PERSONAE_BIN = Path(sys.executable).parent / "personae"
NO_COLOUR = re.compile(rb"\x1b\[[0-9;]*m")
STORE = ("personae.stores.sql", "personae.core.turn")
# The plugin manager imports every built-in engine, so any engine needs all three.
ENGINES = (
    "personae.engines.scripted",
    "personae.engines.llamacpp",
    "personae.engines.openai_compatible",
)
SCRIPTED = (*STORE, *ENGINES)


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Callable[..., Result]:
    """Run the CLI in-process with the test's environment."""
    runner = CliRunner()
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PERSONAE_")}
    env.update({k: v for k, v in cli_env.items() if k.startswith("PERSONAE_") or k == "COLUMNS"})

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return run


def test_version_runs_as_the_installed_command(personae: Callable[..., Any]) -> None:
    done = personae("version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("personae 0.")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("version",),
        ("up",),
        ("chat",),
        ("persona",),
        ("persona", "list"),
        ("persona", "show"),
        ("persona", "validate"),
        ("persona", "schema"),
        ("persona", "add"),
    ],
)
def test_help_everywhere(invoke: Callable[..., Result], args: tuple[str, ...]) -> None:
    result = invoke(*args, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_schema_is_json_with_properties(invoke: Callable[..., Result]) -> None:
    result = invoke("persona", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"id", "greeting", "model"} <= set(schema["properties"])


def test_validate_exit_codes_and_messages(
    invoke: Callable[..., Result], write_persona: Callable[..., Path], valid: dict[str, Any]
) -> None:
    good = write_persona("good.yaml", data=valid)
    result = invoke("persona", "validate", str(good))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"OK {good} (test-helper)"

    bad = write_persona("bad.yaml", data=dict(valid, id="No Good", model={"temprature": 1}))
    result = invoke("persona", "validate", str(good), str(bad))
    assert result.exit_code == 2
    assert f"OK {good}" in result.stdout
    assert f"{bad}: 2 problems in persona" in result.stderr
    assert f"{bad}: id: not a valid id (got 'No Good')" in result.stderr
    assert "did you mean 'temperature'?" in result.stderr
    assert "1 of 2 file(s) invalid" in result.stderr


def test_validate_reports_malformed_json_with_position(
    invoke: Callable[..., Result], write_persona: Callable[..., Path]
) -> None:
    bad = write_persona("broken.json", '{"id": "x"\n "name": "y"}')
    result = invoke("persona", "validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: line 2, column 2: malformed JSON" in result.stderr


@pytest.mark.needs(*STORE)
def test_add_list_show_round_trip(
    invoke: Callable[..., Result],
    write_persona: Callable[..., Path],
    valid: dict[str, Any],
    cli_env: dict[str, str],
) -> None:
    bad = write_persona("bad.yaml", data=dict(valid, greeting=""))
    result = invoke("persona", "add", str(bad))
    assert result.exit_code == 2
    assert "greeting" in result.stderr
    assert not Path(cli_env["PERSONAE_HOME"]).exists(), "nothing is written for a bad file"

    result = invoke("persona", "add", str(write_persona("tess.yaml", data=valid)))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "stored test-helper (revision 1)"

    listing = invoke("persona", "list")
    assert listing.exit_code == 0, listing.output
    assert "test-helper" in listing.stdout and "A helper made for tests" in listing.stdout
    assert "cooking-coach" in listing.stdout, "samples are seeded"

    shown = invoke("persona", "show", "test-helper")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("# revision: 1\n")
    spec = yaml.safe_load(shown.stdout)
    assert spec["greeting"] == valid["greeting"]
    assert spec["model"]["max_tokens"] == 64


@pytest.mark.needs(*STORE)
def test_add_copies_the_avatar_into_the_data_folder(
    personae: Callable[..., subprocess.CompletedProcess[str]],
    write_persona: Callable[..., Path],
    valid: dict[str, Any],
    cli_env: dict[str, str],
) -> None:
    # The server serves avatar files only from the data folder or a persona folder it loads.
    path = write_persona("tess.yaml", data=dict(valid, avatar="Tess.SVG"))
    (path.parent / "Tess.SVG").write_bytes(b"<svg/>")
    added = personae("persona", "add", str(path))
    assert added.returncode == 0, added.stderr
    shown = yaml.safe_load(personae("persona", "show", "test-helper").stdout)
    copy = Path(cli_env["PERSONAE_HOME"]).resolve() / "avatars" / "test-helper.svg"
    assert shown["avatar"] == str(copy)
    assert copy.read_bytes() == b"<svg/>" and copy.stat().st_mode & 0o077 == 0


@pytest.mark.needs(*STORE)
def test_show_unknown_persona_exits_1(invoke: Callable[..., Result]) -> None:
    result = invoke("persona", "show", "nobody-here")
    assert result.exit_code == 1
    assert "no persona with id 'nobody-here'" in result.stderr


@pytest.mark.needs(*SCRIPTED)
def test_chat_piped_answers_one_line_per_input_line(personae: Callable[..., Any]) -> None:
    done = personae("chat", "cooking-coach", "--user", "tester", stdin="Hello!\n\nWhat now?\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 4, done.stdout  # three replies, each ending in \n
    assert lines[0] and lines[2] and lines[1] == ""  # a blank line gets a blank reply


@pytest.mark.needs(*SCRIPTED)
def test_chat_unknown_persona_exits_1(personae: Callable[..., Any]) -> None:
    done = personae("chat", "nobody-here", stdin="hi\n")
    assert done.returncode == 1
    assert "no persona with id 'nobody-here'" in done.stderr


@pytest.mark.needs(*SCRIPTED)
def test_chat_on_the_embedded_model(personae: Callable[..., Any], cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "PERSONAE_ENGINE"}
    env["PERSONAE_PARALLEL"] = "1"
    done = personae("chat", "cooking-coach", stdin="Hi!\n", env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.count("\n") == 1
    assert done.stdout.strip(), "the model answered"
    assert "loading engine llamacpp" in done.stderr


@pytest.mark.needs(*SCRIPTED, "personae.server.app")
def test_up_serves_and_stops_cleanly_on_ctrl_c(cli_env: dict[str, str]) -> None:
    port = free_port()
    command = [str(PERSONAE_BIN), "up", "--port", str(port)]
    proc = subprocess.Popen(
        command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        seen = _read_until(proc, "press Ctrl-C to stop")
        assert f"personae is up at http://127.0.0.1:{port}" in seen
        token_file = Path(cli_env["PERSONAE_HOME"]) / "admin_token"
        assert f"cat {token_file}" in seen
        assert token_file.read_text().strip() not in seen, "the token itself is never printed"
        assert "loading engine scripted" in seen
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)
        assert models.status_code == 200
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, seen + rest
    assert "personae stopped" in rest
    with sqlite3.connect(Path(cli_env["PERSONAE_HOME"]) / "personae.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    seen = ""
    assert proc.stdout is not None
    for line in proc.stdout:  # bounded: the process exits (EOF) if start-up fails
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"`personae up` exited before {marker!r}:\n{seen}")


@pytest.mark.needs(*SCRIPTED)
@pytest.mark.parametrize("leave", [b"\x04", b"\x03"], ids=["ctrl-d", "ctrl-c"])
def test_chat_in_a_terminal_greets_streams_and_exits_cleanly(
    cli_env: dict[str, str], leave: bytes
) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command on a real terminal
        os.execve(str(PERSONAE_BIN), [str(PERSONAE_BIN), "chat", "cooking-coach"], cli_env)
    try:
        seen = _pty_read_until(fd, b"you> ")
        assert b"Rosa> Hello, I'm Rosa!" in seen
        os.write(fd, b"hello there\n")
        seen = _pty_read_until(fd, b"you> ")
        assert b"Rosa> " in seen
        os.write(fd, leave)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def _pty_read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            seen += os.read(fd, 4096)
    assert marker in seen, seen
    return NO_COLOUR.sub(b"", seen)


@pytest.mark.needs(*SCRIPTED, "personae.server.app")
def test_up_with_an_unknown_engine_fails_with_a_message(invoke: Callable[..., Result]) -> None:
    result = invoke("up", "--engine", "nope", "--port", "1")
    assert result.exit_code == 1
    assert "unknown engine 'nope'; installed engines: " in result.stderr
    assert "Pass --engine or set PERSONAE_ENGINE" in result.stderr


@pytest.mark.needs("personae.server.app")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_up_refuses_a_public_address_without_an_api_key(
    personae: Callable[..., Any], host: str
) -> None:
    result = personae("up", "--host", host, "--port", str(free_port()), timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"refusing to listen on {host!r} with no API key" in result.stderr
    for fix in ("PERSONAE_API_KEY", "--host 127.0.0.1", "PERSONAE_ALLOW_PUBLIC_WITHOUT_KEY=true"):
        assert fix in result.stderr
    assert "starting personae" not in result.stdout


@pytest.mark.needs(*SCRIPTED, "personae.server.app")
@pytest.mark.parametrize(
    ("setting", "flag"),
    [
        ({"PERSONAE_API_KEY": "a-key-of-ours"}, []),
        ({"PERSONAE_ALLOW_PUBLIC_WITHOUT_KEY": "true"}, []),
        ({}, ["--allow-public-without-key"]),
    ],
    ids=["api-key", "opt-in-setting", "opt-in-flag"],
)
def test_up_listens_publicly_with_a_key_or_an_explicit_opt_in(
    cli_env: dict[str, str], setting: dict[str, str], flag: list[str]
) -> None:
    port = free_port()
    command = [str(PERSONAE_BIN), "up", "--host", "0.0.0.0", "--port", str(port), *flag]
    proc = subprocess.Popen(
        command, env={**cli_env, **setting}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        seen = _read_until(proc, "press Ctrl-C to stop")
        assert ("warning: no API key" in seen) == ("PERSONAE_API_KEY" not in setting)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{nope", "PERSONAE_API_KEYS takes a JSON object"),
        ('{"Shop": "k1"}', "client name 'Shop' is not allowed"),
        ('{"a": "same", "b": "same"}', "two API clients share one key"),
    ],
    ids=["not-json", "bad-name", "shared-key"],
)
def test_bad_api_keys_are_a_message_not_a_traceback(
    personae: Callable[..., Any], cli_env: dict[str, str], value: str, says: str
) -> None:
    result = personae("up", "--port", "1", env={**cli_env, "PERSONAE_API_KEYS": value})
    assert result.returncode == 1, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert "same" not in result.stderr.replace(says, ""), "keys are never printed"
