"""The on-screen keyboard on its own: layouts, shift, pages, release inside the same key, sizes."""

from __future__ import annotations

import pygame
import pytest

from prelude_play.ui.keyboard import ACCENTS, MIN_KEY, KeyboardPolicy, KeyResult, OnScreenKeyboard
from prelude_play.ui.theme import Theme


@pytest.fixture(autouse=True)
def fonts():
    pygame.font.init()


def typed(kb: OnScreenKeyboard, *keys: str) -> str:
    out = ""
    for k in keys:
        r = kb.press(k)
        if r is not None and r.kind == "text":
            out += r.text
        elif r is not None and r.kind == "backspace":
            out = out[:-1]
    return out


def test_shift_is_one_capital_then_caps_lock_then_off():
    kb = OnScreenKeyboard("en")
    assert typed(kb, "shift", "a", "b") == "Ab"
    assert typed(kb, "shift", "shift", "a", "b", "shift", "c") == "ABc"


def test_french_layout_shows_the_accents_row_and_shift_capitalizes_an_accent():
    kb = OnScreenKeyboard("fr_CA")
    kb.place(Theme())
    assert all(kb.find(f"key:{a}") is not None for a in ACCENTS)
    assert typed(kb, "shift", "é", "l", "o", "d", "i", "e") == "Élodie"
    en = OnScreenKeyboard("en")
    en.place(Theme())
    assert en.find("key:é") is None  # English: the accents row comes with the àé key
    en.press("accents")
    en.place(Theme())
    assert en.find("key:é") is not None and en.find("key:q") is not None


def test_digits_page_backspace_done_and_the_layout_key():
    kb = OnScreenKeyboard("en")
    assert typed(kb, "page", "8", "0", "%", "page", "x", "backspace") == "80%"
    assert kb.press("done") == KeyResult("done")
    kb.press("layout")
    assert kb.layout == "fr_CA" and kb.accents


def test_a_key_acts_on_release_inside_the_same_key_and_each_finger_has_its_own():
    kb = OnScreenKeyboard("en")
    kb.place(Theme())
    a, s, d = (kb.find(f"key:{c}").rect.center for c in "asd")
    assert kb.down(1, a) and kb.up(1, s) is None  # slid off "a": nothing
    kb.down(1, a)
    kb.down(2, s)  # a second thumb before the first lifts
    assert kb.up(2, s) == KeyResult("text", "s") and kb.up(1, a) == KeyResult("text", "a")
    assert not kb.down(3, (10, 10))  # above the keyboard: not its touch
    assert kb.up(4, d) is None  # a release that never went down on a key


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080), (1024, 768)])
@pytest.mark.parametrize("layout", ["en", "fr_CA"])
def test_every_key_is_at_least_12_mm_and_on_screen(size, layout):
    theme = Theme(size)
    for page in ("letters", "symbols"):
        kb = OnScreenKeyboard(layout)
        kb.page = page
        kb.place(theme)
        screen = pygame.Rect((0, 0), size)
        for k in kb.keys:
            assert k.rect.width >= MIN_KEY * theme.scale - 1 and k.rect.height >= MIN_KEY * theme.scale - 1, k.id
            assert screen.contains(k.rect), k.id
        rects = [k.rect for k in kb.keys]
        assert not any(r.colliderect(o) for i, r in enumerate(rects) for o in rects[i + 1:])


def test_policy_auto_always_never():
    auto = KeyboardPolicy("auto")
    assert auto.wanted(by_touch=False) and auto.wanted(by_touch=True)
    auto.typed_physically()
    assert not auto.wanted(by_touch=False) and auto.wanted(by_touch=True)
    assert KeyboardPolicy("always").wanted(False) and not KeyboardPolicy("never").wanted(True)
