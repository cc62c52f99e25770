"""`model pull` against a Hugging Face hub on loopback (hub_server.py): the real
huggingface_hub client, real HTTP, real files; nothing reaches the internet."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.engines.hub import PullFailed, pull
from personae.engines.llamacpp import create_llamacpp_engine, default_model_path
from personae.engines.models import BadModelSpec, ModelStore, parse_spec
from personae.errors import ConfigError, NotFound
from personae.types import ChatMessage

from .conftest import collect, llama_settings, request
from .hub_server import Hub, HubServer

REPO = "tester/Tiny-GGUF"
NAME = "tiny-q4"
SPEC = f"{REPO}/{NAME}.gguf"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
# huggingface_hub writes in 10 MiB chunks: a break loses the chunk in flight, so the resume
# tests use a file of two chunks that breaks in its second.
CHUNK = 10 * 1024 * 1024
BIG = bytes(range(251)) * (12 * 1024 * 1024 // 251)


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = HubServer()
    yield server.hub
    server.close()


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def _leftovers(store: ModelStore) -> list[str]:
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())


def test_a_pull_downloads_verifies_and_lists(hub: Hub, store: ModelStore) -> None:
    hub.add(SPEC, PAYLOAD)
    model = pull(store, SPEC, endpoint=hub.url)
    assert model.path.read_bytes() == PAYLOAD
    assert model.path == store.root / REPO / f"{NAME}.gguf"
    assert (model.name, model.size, model.sha256) == (NAME, len(PAYLOAD), hub.files[SPEC].sha256)
    assert model.revision == "0123456789abcdef0123456789abcdef01234567"
    assert [m.name for m in store.list()] == [NAME]
    assert store.find(NAME) == store.find(SPEC) == store.find(SPEC.removesuffix(".gguf"))
    # A second pull of an unchanged file downloads nothing.
    gets = len(hub.gets())
    assert pull(store, SPEC, endpoint=hub.url).path == model.path
    assert len(hub.gets()) == gets
    assert store.remove(NAME).name == NAME
    assert store.list() == [] and _leftovers(store) == []
    with pytest.raises(NotFound, match="model list"):
        store.remove(NAME)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("tester/No-Such-Repo/x.gguf", "does not exist"),
        (f"{REPO}/missing.gguf", "has no file 'missing.gguf'"),
    ],
)
def test_a_missing_repo_or_file_says_so(hub: Hub, store: ModelStore, spec: str, says: str) -> None:
    hub.add(SPEC, PAYLOAD)
    with pytest.raises(PullFailed, match=says):
        pull(store, spec, endpoint=hub.url)
    assert _leftovers(store) == []


@pytest.mark.parametrize("spec", ["just-a-name", "owner/repo", "o/r/model.bin", "o/r/../x.gguf"])
def test_a_spec_that_is_not_repo_file_gguf_is_refused(spec: str) -> None:
    with pytest.raises(BadModelSpec):
        parse_spec(spec)


def test_a_dropped_connection_is_resumed_with_a_range_request(hub: Hub, store: ModelStore) -> None:
    hub.add(SPEC, BIG, drops=1, drop_at=CHUNK + 100_000)
    model = pull(store, SPEC, endpoint=hub.url)
    assert model.path.read_bytes() == BIG
    assert hub.gets() == [None, f"bytes={CHUNK}-"]


def test_a_download_that_keeps_breaking_fails_clearly_then_resumes(
    hub: Hub, store: ModelStore
) -> None:
    # The library retries 5 times within one pull; a 6th break ends the pull.
    served = hub.add(SPEC, BIG, drops=100, drop_at=CHUNK + 100_000)
    with pytest.raises(PullFailed, match=f"broke off at {CHUNK} of .* run the same pull again"):
        pull(store, SPEC, endpoint=hub.url)
    assert store.list() == []
    (partial,) = (store.root / ".partial").rglob("*.partial")
    assert partial.stat().st_size == CHUNK
    served.drops = 0
    model = pull(store, SPEC, endpoint=hub.url)  # a new pull: resumes from the partial file
    assert model.path.read_bytes() == BIG
    assert hub.gets()[-1] == f"bytes={CHUNK}-"
    assert not partial.exists()


def test_a_checksum_mismatch_leaves_no_model_behind(hub: Hub, store: ModelStore) -> None:
    hub.add(SPEC, PAYLOAD, corrupt=True)
    with pytest.raises(PullFailed, match=r"checksum mismatch .* was deleted"):
        pull(store, SPEC, endpoint=hub.url)
    assert _leftovers(store) == []


def test_a_folder_that_cannot_be_written_is_a_clear_error(hub: Hub, tmp_path: Path) -> None:
    hub.add(SPEC, PAYLOAD)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PullFailed, match=r"could not write .* PERSONAE_MODELS_DIR"):
        pull(ModelStore(blocker / "models"), SPEC, endpoint=hub.url)


def test_a_full_disk_is_a_clear_error_and_frees_its_space(hub: Hub, tmp_path: Path) -> None:
    # A child process whose files may not grow past 200 kB: the disk is "full" mid-download.
    hub.add(SPEC, PAYLOAD)
    root = tmp_path / "models"
    code = (
        "import sys; from personae.engines.hub import pull, PullFailed\n"
        "from personae.engines.models import ModelStore\n"
        f"try: pull(ModelStore(__import__('pathlib').Path({str(root)!r})), {SPEC!r}, "
        f"endpoint={hub.url!r})\n"
        "except PullFailed as e: print(e); sys.exit(1)\n"
    )

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=small_disk,
        env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "could not write" in done.stdout and "File too large" in done.stdout
    assert [p for p in root.rglob("*") if p.is_file()] == []


def _personae(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "personae"), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )


async def _one_turn(models: Path, name: str) -> str:
    engine = await create_llamacpp_engine(llama_settings(models_dir=models, parallel=1), name)
    try:
        assert engine.info.model == name
        chunks = await collect(engine, request(ChatMessage("user", "Say hi."), max_tokens=4))
        return "".join(c.text for c in chunks)
    finally:
        await engine.aclose()


def test_a_pulled_model_is_loaded_by_its_name(hub: Hub, tmp_path: Path) -> None:
    spec = "HuggingFaceTB/SmolLM2-135M-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"
    name = "SmolLM2-135M-Instruct.Q4_1"
    hub.add(spec, default_model_path())
    models = tmp_path / "models"
    # Through the command, with the library's own HF_ENDPOINT setting.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(HF_ENDPOINT=hub.url, PERSONAE_MODELS_DIR=str(models), PERSONAE_HOME=str(tmp_path))
    done = _personae(env, "model", "pull", spec)
    assert done.returncode == 0, done.stderr
    assert f"pulled {name}" in done.stdout
    listed = _personae(env, "model", "list").stdout
    assert name in listed and "93.8 MiB" in listed and hub.files[spec].sha256[:12] in listed
    # A persona's model.name (or PERSONAE_MODEL) names it.
    assert asyncio.run(_one_turn(models, name)).strip()
    with pytest.raises(ConfigError, match="neither a GGUF file nor a pulled model"):
        asyncio.run(_one_turn(models, "not-pulled"))
    removed = _personae(env, "model", "rm", name)
    assert removed.returncode == 0 and not (models / spec).exists()
    assert "no models pulled yet" in _personae(env, "model", "list").stdout
    missing = _personae(env, "model", "pull", "HuggingFaceTB/SmolLM2-135M-GGUF/nope.gguf")
    assert missing.returncode == 1 and "has no file 'nope.gguf'" in missing.stderr
    bad = _personae(env, "model", "pull", "not-a-spec")
    assert bad.returncode == 2 and "REPO/FILE.gguf" in bad.stderr
