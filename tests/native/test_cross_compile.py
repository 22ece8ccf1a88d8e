"""The C core builds for Windows (mingw-w64 cross compiler) and exports what prelude_play.native looks up.

Marked ``realstack``: without the cross compiler it skips here with the apt command, and in CI
(CI=true) that skip is a failure, like any other missing real-stack tool.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("cross_compile", ROOT / "tools" / "cross_compile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.realstack
def test_ppcore_cross_compiles_for_windows_with_every_export(tmp_path):
    cc = _tool()
    if shutil.which(cc.CC) is None or shutil.which(cc.OBJDUMP) is None:
        pytest.skip(f"{cc.CC} not installed: {cc.APT_HINT} (real-stack test)")
    assert cc.main(["--out", str(tmp_path)]) == 0
    dll = tmp_path / "ppcore.dll"
    exports, imports = cc.pe_table(cc.OBJDUMP, dll)
    assert set(cc.expected_exports()) <= exports
    assert {e for e in exports if not e.startswith("pp_")} == set()  # nothing else leaks out
    assert cc.check(dll) == []  # and it needs no DLL that Windows lacks
    assert any(d.lower() == "kernel32.dll" for d in imports)


def test_the_tool_reads_the_names_native_looks_up():
    """tools/cross_compile.py parses prelude_play/native/__init__.py (it must run without numpy): same list."""
    from prelude_play import native

    assert _tool().expected_exports() == list(native.exported_names())


def test_every_function_handed_over_by_address_is_in_callbacks():
    from prelude_play import native

    used = set()
    for path in (ROOT / "prelude_play").rglob("*.py"):
        used |= set(re.findall(r'fn_address\("(\w+)"\)', path.read_text(encoding="utf-8")))
    assert used and used <= set(native.CALLBACKS)


def test_objdump_table_parsing(monkeypatch):
    cc = _tool()
    text = """
There is an export table in .edata at 0x7ff
[Ordinal/Name Pointer] Table
\t[   0] pp_abi
\t[   1] pp_now_ns

The Function Table (interpreted .pdata section contents)
\tDLL Name: KERNEL32.dll
\tDLL Name: msvcrt.dll
"""

    class Fake:
        stdout = text

    monkeypatch.setattr(cc.subprocess, "run", lambda *a, **k: Fake())
    exports, imports = cc.pe_table("objdump", Path("x.dll"))
    assert exports == {"pp_abi", "pp_now_ns"}
    assert imports == {"KERNEL32.dll", "msvcrt.dll"}
    assert cc.SYSTEM_DLLS.match("api-ms-win-crt-runtime-l1-1-0.dll")
    assert not cc.SYSTEM_DLLS.match("libwinpthread-1.dll")
