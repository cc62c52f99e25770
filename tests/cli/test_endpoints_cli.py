"""`personae up --endpoints FILE` with a bad file stops before serving: the file, the path in
it and the fix on stderr, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from personae.cli import app


def test_up_refuses_a_bad_endpoints_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    bad = tmp_path / "endpoints.yaml"
    bad.write_text(
        "models:\n  - name: small\n    context_window: 2048\n    endpoints:\n"
        "      - base_url: 10.0.0.5:8000/v1\n"
    )
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PERSONAE_")}
    env.update({k: v for k, v in cli_env.items() if k.startswith("PERSONAE_")})
    done = CliRunner().invoke(app, ["up", "--port", "21430", "--endpoints", str(bad)], env=env)
    assert done.exit_code == 2, done.output
    assert f"{bad}: models[0].endpoints[0].base_url: not an http(s) URL" in done.output
    assert "hint: the server's OpenAI API root" in done.output
    assert "Traceback" not in done.output
