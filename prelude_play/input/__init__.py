"""Where every input becomes an ``InputEvent`` (``prelude_play.events``), stamped where it happened.

- ``pointer_keys``: touch, mouse, keys, text and window events from SDL (pygame), stamped the moment
  the shell receives them from SDL.
- ``midi``: MIDI messages from the rtmidi / JACK callbacks (the hub in ``prelude_play.midi`` calls
  it with the callback's own stamp).
- ``mic``: voice onsets, analyses and offsets from the analysis worker (``audio.analysis``), stamped
  with the audio's own time.
- ``queue``: the one queue they all go into; any thread may put, the frame loop drains, and a put
  wakes a sleeping loop at once.
"""
