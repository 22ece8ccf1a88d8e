"""Touch accommodations: repeats and short touches are flagged (logged), not acted on or lost."""

from prelude_play.events import InputEvent
from prelude_play.ui.touch import TouchFilter

MS = 1_000_000


def down(t_ms, pid=1, pos=(10.0, 10.0)):
    return InputEvent(int(t_ms * MS), "touch", "down", pos=pos, pointer_id=pid)


def up(t_ms, pid=1):
    return InputEvent(int(t_ms * MS), "touch", "up", pos=(10.0, 10.0), pointer_id=pid)


def test_repeat_within_window_is_flagged():
    f = TouchFilter(ignore_repeat_ms=300)
    a = f.down(down(0))
    b = f.down(down(200, pid=2))
    c = f.down(down(400, pid=3))
    assert [t.data.get("filtered") for t in a + b + c] == [None, "repeat", None]
    assert b[0].data["since_last_ms"] == 200.0


def test_hold_to_select_taps_when_hold_completes():
    f = TouchFilter(ignore_repeat_ms=0, hold_to_select_ms=800)
    assert f.down(down(0)) == []
    assert f.update(799 * MS) == []
    taps = f.update(805 * MS)
    assert len(taps) == 1 and taps[0].t_ns == 800 * MS and "filtered" not in taps[0].data
    assert f.up(up(900)) == []


def test_short_touch_under_hold_is_flagged_not_dropped():
    f = TouchFilter(ignore_repeat_ms=0, hold_to_select_ms=800)
    f.down(down(0))
    taps = f.up(up(300))
    assert taps[0].data["filtered"] == "short_touch" and taps[0].data["held_ms"] == 300.0
    assert f.hold_progress(0) == []


def test_readable_on_picks_the_colour_with_more_contrast():
    from prelude_play.ui import theme as th

    for bg in th.PALETTE + [(90, 170, 225), (255, 196, 87), (22, 28, 44)]:
        fg = th.readable_on(bg)
        assert th.contrast(fg, bg) >= 3.0, (bg, fg)  # large text, WCAG AA
    assert th.readable_on((255, 255, 255)) == th.BG and th.readable_on((0, 0, 0)) == th.TEXT


def test_repeats_are_per_target():
    """A bounce on the same pad is a repeat; another pad within the window is not."""
    f = TouchFilter(ignore_repeat_ms=250, target_of=lambda pos: "left" if pos[0] < 100 else "right")
    taps = f.down(down(0, pos=(10.0, 10.0))) + f.down(down(40, pid=2, pos=(200.0, 10.0))) \
        + f.down(down(80, pid=3, pos=(20.0, 10.0))) + f.down(down(300, pid=4, pos=(20.0, 10.0)))
    assert [t.data.get("filtered") for t in taps] == [None, None, "repeat", None]
    assert [t.data["target"] for t in taps] == ["left", "right", "left", "left"]
    assert taps[2].data["since_last_ms"] == 80.0


def test_without_targets_the_whole_screen_is_one_target():
    f = TouchFilter(ignore_repeat_ms=250)
    taps = f.down(down(0, pos=(10.0, 10.0))) + f.down(down(40, pid=2, pos=(900.0, 500.0)))
    assert [t.data.get("filtered") for t in taps] == [None, "repeat"] and "target" not in taps[0].data
