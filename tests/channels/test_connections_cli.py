"""`personae channel ...` and `personae up --channels` as real subprocesses: what an operator
types and reads. Secrets never appear in any output; invalid input exits 2 with the fix."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .platform import BOT_TOKEN, PHONE_ID, WA_TOKEN, PlatformServer

PERSONAE = str(Path(sys.executable).parent / "personae")
LITERAL = "literal-app-secret-0123456789"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    base.update(
        PERSONAE_HOME=str(tmp_path / "home"),
        PERSONAE_ENGINE="scripted",
        PERSONAE_PORT="9",  # never reached: these runs stop before serving
        CLI_WA_TOKEN=WA_TOKEN,
        NO_COLOR="1",
    )
    return base


def personae(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PERSONAE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def add_whatsapp(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return personae(
        env, "channel", "add", "whatsapp", "--persona", "cooking-coach",
        "--set", f"phone_number_id={PHONE_ID}", "--set", "access_token=env:CLI_WA_TOKEN",
        "--set", f"app_secret={LITERAL}", "--set", "verify_token=short", *extra,
    )  # fmt: skip


def test_add_list_remove_with_secrets_masked(env: dict[str, str]) -> None:
    added = add_whatsapp(env)
    assert added.returncode == 0, added.stderr
    listed = personae(env, "channel", "list")
    for run in (added, listed):
        text = run.stdout + run.stderr
        assert WA_TOKEN not in text and LITERAL not in text and "short" not in text
    assert (
        f"whatsapp {PHONE_ID} -> cooking-coach (stored) phone_number_id={PHONE_ID} "
        f"access_token=env:CLI_WA_TOKEN app_secret=••••{LITERAL[-4:]} verify_token=••••"
    ) in listed.stdout
    twice = add_whatsapp(env)
    assert twice.returncode == 2 and "already connected; remove it first" in twice.stderr
    removed = personae(env, "channel", "remove", "whatsapp", PHONE_ID)
    assert removed.returncode == 0 and f"removed whatsapp {PHONE_ID}" in removed.stdout
    unknown = personae(env, "channel", "remove", "whatsapp", PHONE_ID[:-1])
    assert unknown.returncode == 1 and "no whatsapp connection" in unknown.stderr
    assert "no channel connections" in personae(env, "channel", "list").stdout


def test_invalid_input_exits_2_with_every_problem(env: dict[str, str]) -> None:
    bad = personae(
        env, "channel", "add", "whatsapp", "--persona", "cooking-coch",
        "--set", "phone_number_id=12x", "--set", f"acess_token={LITERAL}",
    )  # fmt: skip
    assert bad.returncode == 2
    assert "command line: 6 problems in the channel connection" in bad.stderr
    assert "whatsapp.persona: no such persona (got 'cooking-coch')" in bad.stderr
    assert "hint: did you mean 'cooking-coach'?" in bad.stderr
    assert "whatsapp.phone_number_id: not a valid id (got '12x')" in bad.stderr
    assert "unknown key 'acess_token'" in bad.stderr and LITERAL not in bad.stderr
    assert "Traceback" not in bad.stderr
    kind = personae(env, "channel", "add", "telegrm", "--persona", "x")
    assert kind.returncode == 2 and "did you mean 'telegram'?" in kind.stderr
    pair = personae(env, "channel", "add", "telegram", "--set", "name")
    assert pair.returncode == 2 and "not KEY=VALUE" in pair.stderr


def test_add_from_a_yaml_or_json_snippet(env: dict[str, str], tmp_path: Path) -> None:
    snippet = tmp_path / "bot.yaml"
    snippet.write_text(
        "kind: telegram\npersona: spanish-tutor\nname: ana-bot\nbot_token: env:CLI_BOT\n"
        "mode: polling\n"
    )
    unset = personae(env, "channel", "add", "--from", str(snippet))
    assert unset.returncode == 2
    assert f"{snippet}: telegram.bot_token: CLI_BOT is not set" in unset.stderr
    env["CLI_BOT"] = BOT_TOKEN
    assert personae(env, "channel", "add", "--from", str(snippet)).returncode == 0
    json_in = '{"kind": "telegram", "persona": "spanish-tutor", "name": "b2", "bot_token": "1:t"'
    broken = personae(env, "channel", "add", "--from", "-", stdin=json_in)
    assert broken.returncode == 2 and "malformed YAML or JSON" in broken.stderr
    shown = personae(env, "channel", "list", "--json").stdout
    assert '"bot_token": "env:CLI_BOT"' in shown and BOT_TOKEN not in shown


def test_a_stored_connection_that_no_longer_loads_stops_start_up_and_can_be_removed(
    env: dict[str, str],
) -> None:
    assert add_whatsapp(env).returncode == 0
    del env["CLI_WA_TOKEN"]
    up = personae(env, "up")
    assert up.returncode == 2, up.stderr
    assert f"the store: whatsapp {PHONE_ID}: whatsapp.access_token: CLI_WA_TOKEN is not set" in (
        up.stderr
    )
    assert f"or remove it: `personae channel remove whatsapp {PHONE_ID}`" in up.stderr
    assert personae(env, "persona", "list").returncode == 0  # persona commands still work
    assert personae(env, "channel", "remove", "whatsapp", PHONE_ID).returncode == 0
    assert personae(env, "channel", "list").returncode == 0


BAD_FILE = """\
whatsapp:
  - persona: cooking-coach
    phone_number_id: "{phone}"
    access_token: env:CLI_UNSET
    app_secret: x
    verify_token: y
telegram:
  - {{persona: nobody, name: b, bot_token: t, mode: polling}}
"""


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_up_refuses_a_bad_channels_file_with_its_path_and_fix(
    env: dict[str, str], tmp_path: Path, how: str
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(BAD_FILE.format(phone=PHONE_ID))
    if how == "flag":
        up = personae(env, "up", "--channels", str(path))
    else:
        up = personae({**env, "PERSONAE_CHANNELS": str(path)}, "up")
    assert up.returncode == 2, up.stdout + up.stderr
    assert f"{path}: 2 problems in the channels file" in up.stderr
    assert f"{path}: whatsapp.0.access_token: CLI_UNSET is not set" in up.stderr
    assert "hint: set the environment variable CLI_UNSET" in up.stderr
    assert f"{path}: telegram.0.persona: no such persona (got 'nobody')" in up.stderr
    assert "personae is up" not in up.stdout


async def test_channel_test_calls_the_platform(
    env: dict[str, str], platform: PlatformServer
) -> None:
    env.update(PERSONAE_GRAPH_API_BASE=platform.url, PERSONAE_TELEGRAM_API_BASE=platform.url)
    assert add_whatsapp(env).returncode == 0

    async def run(*args: str) -> tuple[int, str, str]:
        # Asynchronously: the loopback platform answers on this test's event loop.
        proc = await asyncio.create_subprocess_exec(
            PERSONAE, *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await run("channel", "test", "whatsapp", PHONE_ID)
    assert code == 0, err
    assert (
        out.strip() == f"ok whatsapp {PHONE_ID} id={PHONE_ID} name=Ana Tutor phone=+1 555-010-0000"
    )
    env["CLI_WA_TOKEN"] = "not-a-valid-token"
    code, out, err = await run("channel", "test", "whatsapp", PHONE_ID)
    assert code == 1 and "failed (permanent)" in err and "Invalid OAuth access token" in err
    assert "not-a-valid-token" not in out + err
