"""The child's screen: one schedule strip they can read, and nothing of the therapist's on it.

Driven through the pilot as a therapist would: start a plan, play, warn "two more turns", let a
notice arrive; the child's side is read as pixels (the top bar and the activity's area).
"""

from __future__ import annotations

import pygame
import pytest

from prelude_play.config import AppConfig
from prelude_play.l10n import NBSP
from prelude_play.shell.pilot import run_test
from prelude_play.ui.theme import Theme
from prelude_play.ui.widgets import draw_text
from tests.fakes import RecordingAudio


def _plan(pilot, steps) -> None:
    app = pilot.app
    app.store.ensure_client("robin", display_name="Robin")
    cid = "robin"
    app.store.save_plan("p-test", "Robin's routine", steps, cid)
    app.select_client(cid)
    app.therapist.start_plan(app.therapist.plans.get("p-test", cid))


def _child_pixels(pilot) -> bytes:
    """What the child sees: the whole window while the rail is hidden."""
    pilot.step()
    app = pilot.app
    assert not app.lock.unlocked
    return pygame.image.tobytes(app.surface, "RGB")


def test_a_notice_never_reaches_the_childs_screen_and_waits_for_the_therapist(tmp_path):
    cfg = AppConfig()
    cfg.ui.low_stimulation = True  # in low stimulation not even the corner's dot changes colour
    with run_test(cfg, data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        app.notices.mark_seen()
        app.host.dirty = True
        before = _child_pixels(pilot)
        app.notify("Level up: 2")
        app.host.dirty = True
        assert _child_pixels(pilot) == before  # not one pixel of it on the client's side
        assert app.notices.unseen == 1
        pilot.unlock()
        more = app.rail.find("rail:more")
        assert "⚠1" in more.label  # the rail says there is something to read
        banner = app.rail.find("rail:notice")
        assert banner is not None and "Level up: 2" in banner.label
        pilot.tap("rail:more")  # the overlay lists it, and it counts as seen
        assert app.modal == "overlay" and app.notices.unseen == 0
        pilot.tap("close")
        assert app.rail.find("rail:notice") is None and "⚠" not in app.rail.find("rail:more").label


def test_the_corner_dot_is_the_only_trace_of_a_notice_while_locked(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        app.notices.mark_seen()
        app.host.dirty = True
        before = _child_pixels(pilot)
        app.notify("No microphone")
        app.host.dirty = True
        after = _child_pixels(pilot)
        w = app.theme.size[0]
        changed = {(i // 3) % w for i in range(0, len(before), 3) if before[i:i + 3] != after[i:i + 3]}
        rows = {(i // 3) // w for i in range(0, len(before), 3) if before[i:i + 3] != after[i:i + 3]}
        corner = app.host.corner_rect()
        assert changed and all(corner.left <= x < corner.right for x in changed)
        assert all(y < app.theme.bar_height for y in rows)


def test_the_strip_shows_now_and_then_with_pictures_and_counts_the_last_turns_down(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        _plan(pilot, [{"activity": "not_here", "title": "Hello"},  # not installed: never "then"
                      {"activity": "free_play", "title": "Drums", "trials": 3},
                      {"activity": "drum_turns", "title": "Turns"}])
        app = pilot.app
        strip = app.host.strip_model()
        assert (strip.now.title, strip.then.title) == ("Drums", "Turns")
        assert strip.now.picture == "music.png" or strip.now.picture  # every step has a picture
        assert strip.then.picture == "drum.png"
        assert strip.turns_left == 3 and strip.warning(app.t) is None  # far from the end: no warning
        pilot.unlock()
        pilot.score("+I")  # a trial the therapist scored counts as a turn taken
        assert app.host.strip_model().warning(app.t) == "2 more turns"
        pilot.score("+G")
        assert app.host.strip_model().warning(app.t) == "1 more turn"
        pilot.score("-")
        assert app.host.strip_model().warning(app.t) == "All done"


def test_the_therapist_announces_two_more_turns_from_the_overlay(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        _plan(pilot, [{"activity": "free_play", "title": "Drums"}, {"activity": "drum_turns", "title": "Turns"}])
        app = pilot.app
        assert app.host.strip_model().turns_left is None  # the step names no number of trials
        pilot.panel()
        pilot.tap("warn_turns")
        assert app.modal is None and app.host.strip_model().warning(app.t) == "2 more turns"
        ev = [e for e in app.store.events(app.session.id) if e.kind == "transition_warning"]
        assert ev and ev[0].data == {"turns": 2}
        pilot.score("+I")
        pilot.score("+I")
        assert app.host.strip_model().turns_left == 0
        pilot.tap("rail:more")
        pilot.tap("plan_next")  # the next step starts without a countdown
        assert app.host.strip_model().turns_left is None and app.host.strip_model().then.title == "All done"


def test_the_last_step_leads_to_all_done(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        _plan(pilot, [{"activity": "free_play", "title": "Drums"}])
        strip = pilot.app.host.strip_model()
        assert strip.then.title == "All done" and strip.then.picture == "all_done.png"


def test_french_strings_drawn_with_french_typography():
    pygame.font.init()
    surf = pygame.Surface((800, 100))
    en, fr = Theme((1280, 800), lang="en"), Theme((1280, 800), lang="fr_CA")
    wide_en = draw_text(surf, en, "Niveau: 2", (0, 50), 30, anchor="midleft").width
    wide_fr = draw_text(surf, fr, "Niveau: 2", (0, 50), 30, anchor="midleft").width
    assert wide_fr > wide_en  # the no-break space before ":" is drawn in French
    from prelude_play.l10n import typo
    assert typo("Niveau: 2", "fr_CA") == f"Niveau{NBSP}: 2"


def test_vowels_are_spelled_for_the_language():
    from prelude_play.activities.vowel_match.logic import vowel_name
    from prelude_play.i18n import translator

    fr, en = translator("fr_CA"), translator("en")
    assert [vowel_name(v, fr) for v in ("ah", "ee", "oo", "oh", "eh")] == ["a", "i", "ou", "o", "é"]
    assert [vowel_name(v, en) for v in ("ah", "ee", "oo", "oh", "eh")] == ["ah", "ee", "oo", "oh", "eh"]


def test_notices_are_in_the_apps_language(tmp_path):
    cfg = AppConfig()
    cfg.ui.language = "fr_CA"
    with run_test(cfg, data_dir=tmp_path) as pilot:
        _plan(pilot, [{"activity": "not_here", "title": "Hello"}, {"activity": "free_play", "title": "Drums"}])
        app = pilot.app
        note = next(n for n in app.notices if "not_here" in n)
        assert "n’est pas installée" in note


def _saturation(surface: pygame.Surface, rect: pygame.Rect) -> float:
    """The mean (max - min) of the channels over ``rect``: 0 for greys."""
    import numpy as np

    a = pygame.surfarray.array3d(surface.subsurface(rect)).astype(int)
    return float((a.max(axis=2) - a.min(axis=2)).mean())


def test_low_stimulation_mutes_the_palette_of_whatever_the_activity_draws(tmp_path):
    sats = {}
    for low in (False, True):
        with run_test(data_dir=tmp_path / str(low)) as pilot:
            app = pilot.app
            app.store.ensure_client("robin", display_name="Robin")
            profile = app.store.client_profile("robin")
            profile["low_stimulation"] = low
            app.store.set_client_profile("robin", profile)
            app.select_client("robin")
            app.start_activity("choice_board")  # big coloured cards
            pilot.step()
            assert app.host.low_stimulation() is low
            sats[low] = _saturation(app.surface, app.host_rect())
    assert sats[True] < 0.5 * sats[False]


def test_a_clients_volume_cap_lowers_the_output_for_their_session_only(tmp_path):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        app = pilot.app
        for cid, cap in (("quiet", 30), ("loud", None)):
            app.store.ensure_client(cid, display_name=cid)
            if cap is not None:
                profile = app.store.client_profile(cid)
                profile["audio"] = {"volume_cap_pct": cap}
                app.store.set_client_profile(cid, profile)
        app.select_client("quiet")
        assert audio.master_volume == pytest.approx(0.3)
        app.select_client("loud")
        assert audio.master_volume == app.cfg.audio.master_volume
