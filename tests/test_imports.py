"""What a personae process loads: no syntax highlighter its libraries would pull in for
tools personae never runs (about 10 MB of resident memory; bench/startup.py, P7)."""

from __future__ import annotations

import subprocess
import sys


def printed(*lines: str) -> str:
    """What a fresh interpreter prints running ``lines``."""
    probe = "; ".join(lines)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_server_and_its_migrations_load_no_highlighter() -> None:
    loaded = printed(
        "import sys, personae.cli, personae.server.app, alembic.context, httpx, mako.exceptions",
        "print(sorted(m for m in ('rich', 'pygments') if m in sys.modules))",
    )
    assert loaded == "[]"


def test_the_server_loads_the_stemmer_on_first_recall_not_at_start() -> None:
    said = printed(
        "import sys, personae.server.app, personae.memory.service",
        "from personae.stores import postings",
        "print('snowballstemmer' in sys.modules)",
        "postings.terms('adopted cats')",
        "print('snowballstemmer' in sys.modules)",
    )
    assert said.split() == ["False", "True"]


def test_httpx_and_mako_still_work_without_their_highlighters() -> None:
    said = printed(
        "import personae, httpx, mako.exceptions",
        "from mako.template import Template",
        "print(httpx.URL('http://a/b').path, Template('${x}').render(x=2), "
        "mako.exceptions.syntax_highlight()('<b>'))",
    )
    assert said.split() == ["/b", "2", "&lt;b&gt;"]
