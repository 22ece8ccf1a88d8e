"""matplotlib is an optional extra ("reports"): without it the HTML report is still written, and
says in the client's language why the progress plots are missing and how to get them."""

from __future__ import annotations

import sys

from prelude_play.store.report import export_html
from tests.store.golden import make_golden


def test_report_without_matplotlib_says_how_to_get_the_plots(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    g = make_golden(tmp_path / "prelude.db")
    try:
        text = export_html(g.log, tmp_path / "r.html").read_text(encoding="utf-8")
        fr = export_html(g.log, tmp_path / "fr.html", language="fr_CA").read_text(encoding="utf-8")
    finally:
        g.log.close()
    assert "<svg" not in text and "Progress across sessions" in text
    assert 'matplotlib is not installed (pip install &quot;prelude-play[reports]&quot;)' in text
    assert "matplotlib n&#x27;est pas installé" in fr or "matplotlib n'est pas installé" in fr
