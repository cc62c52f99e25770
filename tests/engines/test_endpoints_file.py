"""The endpoints file: every mistake is reported with the file, the path in it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from personae.engines.endpoints import EndpointsInvalid, load_endpoints
from personae.engines.routing import create_routing_engine
from personae.errors import ConfigError
from personae.runtime import Runtime
from personae.settings import Settings

GOOD = """
models:
  - name: small
    context_window: 2048
    endpoints:
      - base_url: http://127.0.0.1:21490/v1
        concurrency: 4
      - base_url: http://127.0.0.1:21491/v1/
        key: env:SMALL_KEY
        weight: 2
  - name: gemma
    context_window: 8192
    template: strict
    endpoints:
      - {base_url: "https://gemma.example/v1", context_window: 4096}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.yaml"
    path.write_text(text)
    return path


def test_a_good_file_resolves_keys_from_the_environment(tmp_path: Path) -> None:
    models = load_endpoints(write(tmp_path, GOOD), {"SMALL_KEY": "sk-1"})
    small, gemma = models["small"], models["gemma"]
    assert [e.base_url for e in small.endpoints] == [
        "http://127.0.0.1:21490/v1",
        "http://127.0.0.1:21491/v1",
    ]
    assert small.endpoints[1].api_key == "sk-1" and small.endpoints[1].weight == 2
    assert small.endpoints[0].concurrency == 4 and small.template == "chatml"
    assert gemma.endpoints[0].template == "strict"
    assert gemma.endpoints[0].context_window == 4096


def test_every_problem_names_its_path_and_fix(tmp_path: Path) -> None:
    text = GOOD.replace("https://gemma.example/v1", "gemma.example:8000").replace(
        "concurrency: 4", "concurrency: 0"
    )
    text += "    colour: blue\n"
    with pytest.raises(EndpointsInvalid) as caught:
        load_endpoints(write(tmp_path, text), {})
    message = str(caught.value)
    assert str(tmp_path / "endpoints.yaml") in message
    assert "models[1].endpoints[0].base_url: not an http(s) URL" in message
    assert "hint: the server's OpenAI API root" in message
    assert "models[0].endpoints[0].concurrency" in message
    assert "models[1].colour: unknown field" in message


def test_keys_stay_in_the_environment(tmp_path: Path) -> None:
    literal = GOOD.replace("env:SMALL_KEY", "sk-secret-in-file")
    with pytest.raises(EndpointsInvalid) as caught:
        load_endpoints(write(tmp_path, literal), {})
    assert "models[0].endpoints[1].key" in str(caught.value)
    assert "sk-secret-in-file" not in str(caught.value)
    with pytest.raises(EndpointsInvalid) as unset:
        load_endpoints(write(tmp_path, GOOD), {})
    assert "models[0].endpoints[1].key: environment variable SMALL_KEY is not set" in str(
        unset.value
    )
    assert "export SMALL_KEY" in str(unset.value)


def test_unreadable_malformed_and_duplicate(tmp_path: Path) -> None:
    with pytest.raises(EndpointsInvalid, match="cannot read it"):
        load_endpoints(tmp_path / "missing.yaml", {})
    with pytest.raises(EndpointsInvalid, match="malformed YAML"):
        load_endpoints(write(tmp_path, "models: [\n  - name: x\n bad"), {})
    twice = GOOD + GOOD.split("models:\n", 1)[1]
    with pytest.raises(EndpointsInvalid, match=r"models\[2\]\.name: a second entry"):
        load_endpoints(write(tmp_path, twice), {"SMALL_KEY": "k"})
    with pytest.raises(EndpointsInvalid, match=r"models\[0\]\.endpoints"):
        load_endpoints(write(tmp_path, "models:\n  - {name: x, context_window: 512}\n"), {})


async def test_start_up_stops_on_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("http://127.0.0.1:21490/v1", "127.0.0.1:21490"))
    settings = Settings(
        home=tmp_path, engine="scripted", endpoints=path, load_samples=False, guards=""
    )
    with pytest.raises(EndpointsInvalid, match=r"models\[0\]\.endpoints\[0\]\.base_url"):
        await Runtime.start(settings, warm=False, channels=False, resume=False)


async def test_a_persona_picks_its_model_by_name(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, endpoints=write(tmp_path, GOOD), engine="endpoints")
    # The test's environment has no SMALL_KEY: the file is refused before any engine exists.
    with pytest.raises(EndpointsInvalid):
        await create_routing_engine(settings, "gemma")
    path = write(tmp_path, GOOD.replace("        key: env:SMALL_KEY\n", ""))
    settings = Settings(home=tmp_path, endpoints=path, engine="endpoints")
    gemma = await create_routing_engine(settings, "gemma")
    assert gemma.info.model == "gemma" and gemma.info.template == "strict"
    assert gemma.info.context_window == 4096
    await gemma.aclose()
    with pytest.raises(ConfigError, match="model 'nope' is not in"):
        await create_routing_engine(settings, "nope")
