"""`personae persona import FILE` and `personae persona export SLUG`, run for real."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

# The card files the card tests build (tests/cards is a package; this folder is not).
_spec = importlib.util.spec_from_file_location(
    "cardfiles", Path(__file__).parents[1] / "cards" / "cardfiles.py"
)
assert _spec is not None and _spec.loader is not None
cardfiles = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("cardfiles", cardfiles)
_spec.loader.exec_module(cardfiles)
REAL_CARD, V3 = cardfiles.REAL_CARD, cardfiles.V3
card_in, charx, png = cardfiles.card_in, cardfiles.charx, cardfiles.png
RunPersonae = Callable[..., "subprocess.CompletedProcess[str]"]


def test_import_the_real_card_then_export_it_every_way(
    personae: RunPersonae, tmp_path: Path
) -> None:
    done = personae("persona", "import", str(REAL_CARD))
    assert done.returncode == 0, done.stderr
    assert "stored seraphina (revision 1) from a v2 png card; lorebook: " in done.stdout
    as_png = tmp_path / "out.png"
    done = personae("persona", "export", "seraphina", "--format", "v2", "--png", "-o", str(as_png))
    assert done.returncode == 0, done.stderr
    data = as_png.read_bytes()
    assert card_in(data, "chara") == card_in(REAL_CARD.read_bytes(), "chara")
    assert card_in(data, "ccv3")["spec"] == "chara_card_v3"
    done = personae("persona", "export", "seraphina", "--format", "v2")
    assert json.loads(done.stdout) == card_in(REAL_CARD.read_bytes(), "chara")
    as_charx = tmp_path / "out.charx"
    assert (
        personae(
            "persona", "export", "seraphina", "--format", "charx", "-o", str(as_charx)
        ).returncode
        == 0
    )
    with zipfile.ZipFile(io.BytesIO(as_charx.read_bytes())) as archive:
        assert json.loads(archive.read("card.json"))["data"]["name"] == "Seraphina"


def test_import_charx_with_an_id(personae: RunPersonae, tmp_path: Path) -> None:
    path = tmp_path / "marin.charx"
    path.write_bytes(charx(V3, {"assets/icon/images/main.png": png({})}))
    done = personae("persona", "import", str(path), "--id", "harbor")
    assert done.returncode == 0, done.stderr
    assert "stored harbor (revision 1) from a v3 charx card; lorebook: 2 entries" in done.stdout
    shown = personae("persona", "show", "harbor")
    assert "nickname: Mari" in shown.stdout and "lorebook:" in shown.stdout


def test_bad_cards_fail_with_a_message_and_store_nothing(
    personae: RunPersonae, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(png({"chara": b"%%%"}))
    done = personae("persona", "import", str(bad))
    assert done.returncode == 1 and "not valid base64" in done.stderr
    traversal = tmp_path / "evil.charx"
    traversal.write_bytes(charx(V3, {"../../x": b"x"}))
    done = personae("persona", "import", str(traversal))
    assert done.returncode == 1 and "not a plain relative path" in done.stderr
    assert "harbor" not in personae("persona", "list").stdout
    done = personae("persona", "export", "cooking-coach", "--format", "v9")
    assert done.returncode == 1 and "use v2, v3 or charx" in done.stderr
