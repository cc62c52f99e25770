"""`personae knowledge add|list|remove`: documents added from the command line, and refusals
(unknown persona, oversized or unreadable file) that say why and store nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from personae.cli import app

PERSONA = {"id": "test-helper", "name": "Tess", "greeting": "Hello!"}


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Callable[..., Result]:
    runner = CliRunner()
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PERSONAE_")}
    env.update({k: v for k, v in cli_env.items() if k.startswith("PERSONAE_")})
    env["PERSONAE_KNOWLEDGE_MAX_BYTES"] = "2000"

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return run


def test_add_list_remove_and_refusals(
    invoke: Callable[..., Result], write_persona: Callable[..., Path], tmp_path: Path
) -> None:
    added = invoke("persona", "add", str(write_persona("p.yaml", data=PERSONA)))
    assert added.exit_code == 0, added.output
    guide = tmp_path / "guide.md"
    guide.write_text("# Hours\n\nOpen at nine.\n\n# Prices\n\nTea costs two euros.\n")
    made = invoke("knowledge", "add", "test-helper", str(guide))
    assert made.exit_code == 0, made.output
    doc = json.loads(made.stdout.strip().splitlines()[-1])
    assert doc["chunks"] == 2
    [listed] = [
        json.loads(line) for line in invoke("knowledge", "list", "test-helper").stdout.splitlines()
    ]
    assert listed["id"] == doc["id"] and listed["name"] == "guide.md"

    big = tmp_path / "big.md"
    big.write_text("x" * 2001)
    refused = invoke("knowledge", "add", "test-helper", str(big))
    assert refused.exit_code == 2 and "PERSONAE_KNOWLEDGE_MAX_BYTES" in refused.output
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9")
    refused = invoke("knowledge", "add", "test-helper", str(latin))
    assert refused.exit_code == 2 and "not valid UTF-8" in refused.output
    unknown = invoke("knowledge", "add", "no-such-persona", str(guide))
    assert unknown.exit_code == 1 and "no-such-persona" in unknown.output
    assert len(invoke("knowledge", "list", "test-helper").stdout.splitlines()) == 1

    removed = invoke("knowledge", "remove", "test-helper", str(doc["id"]))
    assert removed.exit_code == 0, removed.output
    assert invoke("knowledge", "list", "test-helper").stdout.strip() == ""
    again = invoke("knowledge", "remove", "test-helper", str(doc["id"]))
    assert again.exit_code == 1 and "no knowledge document" in again.output
