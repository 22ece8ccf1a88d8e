"""The hello song: the session's first step (the code is shared with the goodbye song in
``activities/_greeting_songs``; the song itself is ``_greeting_songs/songs/hello.toml``)."""

from .._greeting_songs import HelloSong

ACTIVITY = HelloSong
