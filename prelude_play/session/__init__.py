"""The session: who the client is, what runs, and what the therapist's scores count on.

``live.LiveSession`` owns the client, the session record, the plan schedule, the activity
lifecycle, the prompt level, the targeted goals, trials, scores and corrections, and the log; it
imports no pygame. ``scoring`` is the grammar of score codes and the one-pedal gestures.
"""
