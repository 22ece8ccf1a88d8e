"""Where an event becomes sound: the one rule "this hit makes this sound" and the path a MIDI hit
takes to the audio engine before the frame loop sees it.

``table``: the rule as data (an activity's ``fast_sound_table()``) and ``sound_for``, the one
function that reads it. ``path``: ``HitPath``, the sink the MIDI hub calls (plays, then passes a
new event on to the app's queue) and ``set_activity``, which keeps whichever fast path runs up to
date. ``steady``: a constant latency for every hit. ``compiled``: the rule compiled for the C
core's MIDI callback (imported when the C core is linked: it needs numpy).
"""

from prelude_play.hits.path import HitPath, Hits
from prelude_play.hits.steady import SteadyLatency
from prelude_play.hits.table import MAPPED, SoundTable, sound_for, wants_sound

__all__ = ["HitPath", "Hits", "SteadyLatency", "MAPPED", "SoundTable", "sound_for", "wants_sound"]
