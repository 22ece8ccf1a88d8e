"""The goodbye song: the session's last step (the code is shared with the hello song in
``activities/_greeting_songs``; the song itself is ``_greeting_songs/songs/goodbye.toml``)."""

from .._greeting_songs import GoodbyeSong

ACTIVITY = GoodbyeSong
