"""`personae token create|list|revoke`: shown once, stored hashed, refused when wrong."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from personae.cli import app
from personae.stores.tokens import digest


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Callable[..., Result]:
    runner = CliRunner()
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PERSONAE_")}
    env.update({k: v for k, v in cli_env.items() if k.startswith("PERSONAE_")})

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return run


def test_create_list_revoke(invoke: Callable[..., Result], cli_env: dict[str, str]) -> None:
    made = invoke("token", "create", "--role", "creator", "--persona", "cooking-coach",
                  "--persona", "travel-planner", "--name", "alice")  # fmt: skip
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("pt_") and len(token) > 40
    listed = invoke("token", "list", "--json")
    [record] = json.loads(listed.stdout)
    assert record["role"] == "creator" and record["name"] == "alice"
    assert record["personas"] == ["cooking-coach", "travel-planner"]
    assert token not in listed.stdout and record["revoked_at"] is None
    home = Path(cli_env["PERSONAE_HOME"])
    stored = b"".join(f.read_bytes() for f in home.glob("personae.db*"))
    assert token.encode() not in stored and digest(token).encode() in stored
    revoked = invoke("token", "revoke", record["id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert json.loads(invoke("token", "list", "--json").stdout)[0]["revoked_at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "root"), "--role must be one of admin, creator"),
        (("--role", "creator"), "needs at least one --persona"),
        (("--role", "admin", "--persona", "x"), "drop --persona"),
    ],
)
def test_bad_input_exits_2(
    invoke: Callable[..., Result], args: tuple[str, ...], message: str
) -> None:
    result = invoke("token", "create", *args)
    assert result.exit_code == 2 and message in result.output


def test_revoking_an_unknown_id_exits_1(invoke: Callable[..., Result]) -> None:
    result = invoke("token", "revoke", "nope")
    assert result.exit_code == 1 and "personae token list" in result.output
