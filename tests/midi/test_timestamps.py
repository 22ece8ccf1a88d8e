"""rtmidi deltas put onto the app clock: late callbacks do not move the stamps."""

from prelude_play.midi.timestamps import DeltaClock

US = 1_000  # the offset may creep up by 200 ppm of elapsed time (clock drift allowance)


def near(a, b, tol=5 * US):
    return abs(a - b) <= tol


def test_first_event_gets_callback_time_then_deltas_rule():
    dc = DeltaClock()
    assert dc.stamp(0.0, 1_000_000_000) == 1_000_000_000
    # the second callback ran 4 ms late (GIL); rtmidi's delta says 10 ms after the first
    assert near(dc.stamp(0.010, 1_014_000_000), 1_010_000_000)


def test_offset_follows_the_least_delayed_event():
    dc = DeltaClock()
    dc.stamp(0.0, 1_003_000_000)  # first callback was 3 ms late
    t = dc.stamp(0.010, 1_010_000_000)  # this one on time: the offset drops by 3 ms
    assert t == 1_010_000_000
    assert near(dc.stamp(0.010, 1_025_000_000), 1_020_000_000)


def test_stamps_never_in_the_future_and_monotonic():
    dc = DeltaClock()
    now = 5_000_000_000
    last = dc.stamp(0.0, now)
    for i in range(200):
        now += 1_000_000 + (i % 7) * 300_000
        t = dc.stamp(0.001, now)
        assert last <= t <= now
        last = t


def test_long_gap_reanchors():
    dc = DeltaClock(max_gap_s=10)
    dc.stamp(0.0, 0)
    assert dc.stamp(60.0, 61_000_000_000) == 61_000_000_000
