"""personae: AI personas that help people."""

import sys

# Two libraries load a syntax highlighter personae never uses, whenever it is installed (it
# is: typer and uvicorn bring rich, click and pygments): httpx its command-line client (rich's
# console, pygments' lexers), Mako (under alembic) pygments for its HTML error pages. Together
# about 10 MB of resident memory in every personae process. Marked absent, both fall back
# (``httpx.main`` says the CLI is not installed; Mako escapes instead of highlighting). Only
# when they are not loaded yet.
for _name, _parent in (("httpx._main", "httpx"), ("mako.ext.pygmentplugin", "mako")):
    if _parent not in sys.modules:
        sys.modules.setdefault(_name, None)  # type: ignore[arg-type]
del _name, _parent

__version__ = "0.1.0"
