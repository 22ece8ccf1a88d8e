"""The built-in activities, as ``prelude_play.activities`` (dev tree only).

Their source stays in the top-level ``activities/`` folder; a wheel or bundle installs that folder
as this package (setup.py maps it), so nothing named plain ``activities`` lands in site-packages.
In a checkout this file stands in: the package's path is the top-level folder, whose
``__init__.py`` is run here so both trees behave the same. Activities import each other and
their own modules relatively (``from .logic import ...``), which works under either name.
"""

from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[2] / "activities"
__path__ = [str(_SOURCE)]
exec(compile((_SOURCE / "__init__.py").read_text(encoding="utf-8"), str(_SOURCE / "__init__.py"), "exec"))
