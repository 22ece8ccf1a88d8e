"""Dates, numbers and typography in the language a document is written in (en, fr_CA).

The words come from the gettext catalogs (``prelude_play.i18n``); this module only shapes what
is around them, so the session note and the HTML report print the same way:

- dates, times and numbers through Babel (CLDR data): "December 2, 2026" / "2 décembre 2026",
  "12.5" / "12,5", "60%" / "60 %". Babel rather than the C library's ``locale``: it needs no
  locale installed on the tablet, is not process-global, and gives fr-CA's own CLDR forms.
- French typography (``typo``): a no-break space before ``:``, narrow no-break spaces before
  ``;`` ``!`` ``?``, « guillemets » for straight or curly double quotes. English text is left
  as written. ``typo`` is idempotent (running it twice changes nothing), so text that went
  through it already (a drafted note) can go through it again.
"""

from __future__ import annotations

import re
from datetime import date, datetime

NBSP = "\u00a0"   # espace insécable: before ":" and inside « »
NNBSP = "\u202f"  # espace fine insécable: before ";" "!" "?"
DASH = "–"        # shown for "no value"

_SPACES = "[ \u00a0\u202f]*"
_QUOTES = re.compile(r'"([^"\n]*)"|“([^”\n]*)”')
_OPEN = re.compile(r"«[ \u00a0\u202f]*")
_CLOSE = re.compile(r"[ \u00a0\u202f]*»")
# A colon ending a word (not 10:30, not http://, not client:abc): followed by a space or the end.
_COLON = re.compile(rf"([^\s:]){_SPACES}:(?=\s|$)")
_HIGH = re.compile(rf"([^\s;!?]){_SPACES}([;!?]+)(?=[\s»)\]]|$)")
_PERCENT = re.compile(r"(\d) ?%")


def is_french(lang: str) -> bool:
    return lang.lower().replace("-", "_").startswith("fr")


def babel_locale(lang: str) -> str:
    """The Babel/CLDR locale of an app language ("en", "fr_CA")."""
    return "fr_CA" if is_french(lang) else "en"


def typo(text: str, lang: str) -> str:
    """``text`` with the typography of ``lang`` (French: spaces before high punctuation, « »)."""
    if not text or not is_french(lang):
        return text
    text = _QUOTES.sub(lambda m: f"«{NBSP}{(m.group(1) if m.group(1) is not None else m.group(2)).strip()}{NBSP}»",
                       text)
    text = _OPEN.sub("«" + NBSP, text)
    text = _CLOSE.sub(NBSP + "»", text)
    text = _COLON.sub(lambda m: f"{m.group(1)}{NBSP}:", text)
    text = _HIGH.sub(lambda m: f"{m.group(1)}{NNBSP}{m.group(2)}", text)
    return _PERCENT.sub(lambda m: f"{m.group(1)}{NBSP}%", text)


def _as_datetime(value: date | datetime | str) -> datetime | date:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def date_long(value: date | datetime | str, lang: str) -> str:
    """"December 2, 2026" / "2 décembre 2026" (a stored ISO time keeps its own UTC offset)."""
    from babel.dates import format_date

    return format_date(_as_datetime(value), "long", locale=babel_locale(lang))


def time_short(value: datetime | str, lang: str) -> str:
    """"10:05 AM" / "10 h 05", in the wall time the value was written in."""
    from babel.dates import format_time

    dt = _as_datetime(value)
    assert isinstance(dt, datetime)
    return format_time(dt.replace(tzinfo=None), "short", locale=babel_locale(lang))


def number(value: float, lang: str, digits: int = 0) -> str:
    """A decimal number: "12.5" / "12,5" (``digits`` after the separator at most)."""
    from babel.numbers import format_decimal

    fmt = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(value, format=fmt, locale=babel_locale(lang))


def percent(pct: float | None, lang: str) -> str:
    """A percentage given as 0–100: "60%" / "60 %"; ``DASH`` for none (no scored trial)."""
    if pct is None:
        return DASH
    from babel.numbers import format_percent

    return format_percent(pct / 100.0, locale=babel_locale(lang)).replace(" ", NBSP)


def minutes(value: float | None, lang: str) -> str:
    """A length in whole minutes, number and unit never split over two lines: "40 min"."""
    if value is None:
        return DASH
    return f"{number(round(value), lang)}{NBSP}min"
