"""Dates, numbers and fr-CA typography: the one helper the note and the report share."""

from __future__ import annotations

import pytest

from prelude_play.l10n import DASH, NBSP, NNBSP, date_long, minutes, number, percent, time_short, typo

WHEN = "2026-12-02T10:05:00.000-05:00"


def test_french_typography_spaces_high_punctuation_and_uses_guillemets():
    assert typo("Objectif: réussi", "fr_CA") == f"Objectif{NBSP}: réussi"
    assert typo("Objectif : réussi", "fr_CA") == f"Objectif{NBSP}: réussi"  # a plain space becomes a no-break one
    assert typo("un; deux! trois? quatre?!", "fr_CA") == f"un{NNBSP}; deux{NNBSP}! trois{NNBSP}? quatre{NNBSP}?!"
    assert typo('Il a dit "encore" puis “fini”.', "fr_CA") == f"Il a dit «{NBSP}encore{NBSP}» puis «{NBSP}fini{NBSP}»."
    assert typo("« déjà »", "fr_CA") == f"«{NBSP}déjà{NBSP}»"
    assert typo("60% des essais", "fr_CA") == f"60{NBSP}% des essais"


def test_french_typography_leaves_times_links_tags_and_ends_alone():
    text = "À 10:30, voir http://ex.org/a?b=1 et client:g1a2; fin:"
    assert typo(text, "fr_CA") == f"À 10:30, voir http://ex.org/a?b=1 et client:g1a2{NNBSP}; fin{NBSP}:"
    assert typo("00:12 Tout arrêter", "fr_CA") == "00:12 Tout arrêter"


@pytest.mark.parametrize("text", ['S: "oui"; bravo! 60 % ?', "Plan: « x » : y", "a ;b", "", "::"])
def test_typography_is_idempotent_and_english_is_left_as_written(text):
    once = typo(text, "fr_CA")
    assert typo(once, "fr_CA") == once
    assert typo(text, "en") == text


def test_dates_times_and_numbers_follow_the_language():
    assert date_long(WHEN, "en") == "December 2, 2026"
    assert date_long(WHEN, "fr_CA") == "2 décembre 2026"
    assert time_short(WHEN, "fr_CA") == "10 h 05"  # the wall time it was written in, not converted
    assert time_short(WHEN, "en").startswith("10:05")
    assert number(12.5, "en", 1) == "12.5" and number(12.5, "fr_CA", 1) == "12,5"
    assert number(1234, "fr_CA").replace(NNBSP, " ").replace(NBSP, " ") == "1 234"
    assert percent(57.14, "en") == "57%" and percent(57.14, "fr_CA") == f"57{NBSP}%"
    assert percent(None, "fr_CA") == DASH
    assert minutes(39.6, "fr_CA") == f"40{NBSP}min" and minutes(None, "en") == DASH
