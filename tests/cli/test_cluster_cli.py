"""The cluster's commands refuse a setup that cannot work, saying what to set, and list
parked jobs (none on a fresh store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae.cli import app


@pytest.mark.parametrize("command", [["worker"], ["serve", "--role", "web"]])
def test_cluster_roles_need_the_cluster_queue(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path))
    monkeypatch.delenv("PERSONAE_QUEUE", raising=False)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1
    assert "PERSONAE_QUEUE=procrastinate" in result.output
    assert "PERSONAE_DATABASE_URL" in result.output


def test_the_cluster_queue_needs_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path))
    monkeypatch.setenv("PERSONAE_QUEUE", "procrastinate")
    result = CliRunner().invoke(app, ["worker", "--engine", "scripted"])
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output and "postgresql+asyncpg://" in result.output


def test_no_parked_jobs_on_a_fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["work", "parked"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "no parked jobs"
