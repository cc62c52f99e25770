"""Pulled models: GGUF files from the Hugging Face hub, kept in the models folder.

Layout under PERSONAE_MODELS_DIR (default $PERSONAE_HOME/models)::

    <owner>/<repo>/<file>.gguf          the model, moved in only once its checksum matched
    <owner>/<repo>/<file>.gguf.json     what was pulled: repo, file, revision, size, sha256
    .partial/<owner>/<repo>/<file>.<etag>.partial   a download in progress (resumed by the
                                                    next pull; never listed, never loaded)

A model is named by its file name without ``.gguf`` (``SmolLM2-360M-Instruct-Q4_K_M``) or, when
two repositories hold files of one name, by ``owner/repo/file.gguf``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from personae.errors import ConfigError, NotFound

SUFFIX = ".gguf"
MANIFEST = ".json"
PARTIAL_DIR = ".partial"
# Hub repository ids: owner/name of letters, digits, '-', '_', '.'; no '..' anywhere.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


class BadModelSpec(ConfigError):
    """A pull argument that is not REPO/FILE.gguf."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    repo: str  # owner/name
    file: str  # path inside the repository, ending in .gguf

    @property
    def full_name(self) -> str:
        return f"{self.repo}/{self.file}"


def parse_spec(spec: str) -> ModelSpec:
    """``owner/repo/file.gguf`` (the file may sit in folders of the repository)."""
    parts = spec.strip().strip("/").split("/")
    example = "e.g. bartowski/SmolLM2-360M-Instruct-GGUF/SmolLM2-360M-Instruct-Q4_K_M.gguf"
    if len(parts) < 3:
        raise BadModelSpec(
            f"{spec!r} is not REPO/FILE.gguf: name the repository (owner/name) and the GGUF file "
            f"in it, {example}"
        )
    bad = [p for p in parts if not _PART.fullmatch(p) or ".." in p]
    if bad:
        raise BadModelSpec(
            f"{spec!r}: {bad[0]!r} is not a valid repository or file name part (letters, "
            f"digits, '-', '_', '.'; no '..'); {example}"
        )
    if not parts[-1].lower().endswith(SUFFIX):
        raise BadModelSpec(
            f"{spec!r} does not name a .gguf file; llama.cpp loads GGUF models only: pick a "
            f".gguf file from the repository's file list, {example}"
        )
    return ModelSpec("/".join(parts[:2]), "/".join(parts[2:]))


@dataclass(frozen=True, slots=True)
class PulledModel:
    name: str
    repo: str
    file: str
    revision: str
    size: int
    sha256: str
    pulled_at: str
    path: Path

    @property
    def full_name(self) -> str:
        return f"{self.repo}/{self.file}"


class ModelStore:
    """The models folder: what was pulled, where a pull writes, and finding a model by name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def target(self, spec: ModelSpec) -> Path:
        return self.root / spec.repo / spec.file

    def partial(self, spec: ModelSpec, etag: str) -> Path:
        name = f"{Path(spec.file).name}.{etag[:16]}.partial"
        return self.root / PARTIAL_DIR / spec.repo / Path(spec.file).parent / name

    def list(self) -> list[PulledModel]:
        if not self.root.is_dir():
            return []
        found = []
        for manifest in sorted(self.root.glob(f"*/*/**/*{SUFFIX}{MANIFEST}")):
            model = _read_manifest(manifest)
            if model is not None and model.path.is_file():
                found.append(model)
        return found

    def find(self, name: str) -> PulledModel | None:
        """The model a name means: its file name without .gguf, or owner/repo/file(.gguf)."""
        wanted = name.strip()
        full = [m for m in self.list() if wanted in (m.full_name, m.full_name[: -len(SUFFIX)])]
        if full:
            return full[0]
        short = [m for m in self.list() if m.name == wanted]
        if len(short) > 1:
            names = ", ".join(m.full_name for m in short)
            raise ConfigError(
                f"model name {wanted!r} is ambiguous: pulled from several repositories ({names}); "
                "name it in full as owner/repo/file.gguf"
            )
        return short[0] if short else None

    def record(self, spec: ModelSpec, revision: str, size: int, sha256: str) -> PulledModel:
        """Write the manifest of a model just moved into place (atomically)."""
        path = self.target(spec)
        model = PulledModel(
            name=path.name[: -len(SUFFIX)],
            repo=spec.repo,
            file=spec.file,
            revision=revision,
            size=size,
            sha256=sha256,
            pulled_at=datetime.now(UTC).isoformat(timespec="seconds"),
            path=path,
        )
        data = {k: v for k, v in asdict(model).items() if k not in ("path", "name")}
        manifest = path.with_name(path.name + MANIFEST)
        tmp = manifest.with_name(manifest.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest)
        return model

    def remove(self, name: str) -> PulledModel:
        model = self.find(name)
        if model is None:
            raise NotFound(
                f"no pulled model named {name!r}; `personae model list` shows the pulled ones"
            )
        model.path.unlink(missing_ok=True)
        model.path.with_name(model.path.name + MANIFEST).unlink(missing_ok=True)
        for folder in (model.path.parent, *model.path.parent.parents):  # empty folders only
            if folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:
                break
        return model


def _read_manifest(manifest: Path) -> PulledModel | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        path = manifest.with_name(manifest.name[: -len(MANIFEST)])
        return PulledModel(
            name=path.name[: -len(SUFFIX)],
            repo=str(data["repo"]),
            file=str(data["file"]),
            revision=str(data["revision"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            pulled_at=str(data["pulled_at"]),
            path=path,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not one of ours, or damaged: not offered as a model
