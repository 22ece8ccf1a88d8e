"""The real-time process (``audio.process = "separate"``): the audio engine and the MIDI hub run
in a child process with no UI thread competing for its GIL; the UI process talks to them through
proxies (``prelude_play.rt.proxy``). See ``prelude_play.rt.host`` for the child's side."""
