"""Realistic made-up session data for the export benchmark, report screenshots and tests.

Deterministic for a seed: clients with their own goals improve over sessions, a new activity
joins midway (a phase change), some scores are undone or edited, touches are filtered, notes
are written. Nothing here is used while a real session runs.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from prelude_play.clock import FakeClock
from prelude_play.events import LogEvent
from prelude_play.store.clients import ClientBook
from prelude_play.store.eventlog import EventLog

ACTIVITIES: dict[str, tuple[str, ...]] = {
    "choice_board": ("functional_communication", "self_expression"),
    "drum_turns": ("turn_taking", "social", "musical"),
    "vowel_match": ("speech_communication", "musical"),
    "scarf_moves": ("gross_motor", "attention_executive"),
}
OWN_GOALS = [("Waits for own turn on the drum", "turn_taking", "80% of trials over 3 sessions"),
             ("Matches 3 vowel sounds in call and response", "speech_communication", "70% over 2 sessions"),
             ("Chooses between two songs by touch", "functional_communication", "80% of trials over 3 sessions")]
BASE = datetime(2025, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
NOTES = ["Calm start; engaged quickly with the drum.", "Tired today, needed more verbal prompts.",
         "Sang 'ah' back spontaneously twice!", "Parent reports better turn-taking at home.", ""]


def make_store(log: EventLog, *, sessions: int = 100, events_per_session: int = 500, clients: int = 1,
               seed: int = 1) -> list[str]:
    """Fill ``log`` with ``sessions`` sessions of about ``events_per_session`` events; returns client ids."""
    rnd = random.Random(seed)
    clock = log.clock if isinstance(log.clock, FakeClock) else FakeClock()
    book = ClientBook(log)
    ids = []
    for c in range(clients):
        cid = book.create(f"Demo Client {c + 1}", client_id=f"demo-{c + 1}", code=f"C-D{c + 1:03d}")
        for text, area, target in OWN_GOALS:
            book.add_goal(cid, text, area, target)
        ids.append(cid)
    for n in range(sessions):
        cid = ids[n % clients]
        own = {g["area"]: f"client:{g['id']}" for g in log.client_profile(cid)["goals"]}
        progress = (n // clients) / max(1, sessions // clients - 1)
        log.db.execute("BEGIN")
        s = log.start_session(cid, {"app_version": "0.1.0", "activities": {a: "0.1.0" for a in ACTIVITIES},
                                    "config": {"demo": True}},
                              plan="Hello to goodbye" if progress < 0.5 else "Hello to goodbye + voice")
        acts = ["choice_board", "drum_turns", "scarf_moves"] + (["vowel_match"] if progress >= 0.4 else [])
        per_act = max(4, events_per_session // len(acts))
        written = 0
        for a in acts:
            s.activity = a
            goals = ACTIVITIES[a]
            tags = goals + tuple(own[g] for g in goals if g in own)
            log.log(s, LogEvent("activity_start", actor="system", goals=goals,
                                data={"version": "0.1.0", "settings": {"level": 1 + int(progress * 3)}}))
            written += 1
            last: int | None = None
            for i in range(per_act - 2):
                clock.advance(ms=rnd.uniform(300, 2500))
                r = rnd.random()
                if r < 0.45:
                    log.log(s, LogEvent("hit", source="midi", device="pad", goals=tags,
                                        data={"note": rnd.choice([36, 38, 42]), "velocity": rnd.randint(30, 127)}))
                elif r < 0.5:
                    log.log(s, LogEvent("filtered_touch", source="touch", goals=tags,
                                        data={"reason": rnd.choice(["repeat", "short_hold"])}))
                elif r < 0.53 and last is not None:
                    log.log(s, LogEvent("correction", actor="therapist", corrects=last, goals=tags,
                                        data={"action": "undo"}))
                    last = None
                else:
                    p = 0.25 + 0.65 * progress + rnd.uniform(-0.15, 0.15)
                    outcome = rnd.choices(["success", "partial", "not_yet", "no_response"],
                                          [p, 0.25, 0.2 * (1 - p) + 0.02, 0.05])[0]
                    prompt = "independent" if rnd.random() < p else rnd.choice(["gestural", "verbal", "model", "physical"])
                    last = log.log(s, LogEvent("score", actor="therapist", source="key", goals=tags,
                                               outcome=outcome, prompt=prompt))
                written += 1
            log.log(s, LogEvent("activity_stop", actor="system"))
            written += 1
        note = rnd.choice(NOTES)
        while written < events_per_session - bool(note):
            log.log(s, LogEvent("hit", source="touch", goals=("self_expression",), data={"pad": written % 4}))
            written += 1
        if note:
            log.log(s, LogEvent("note", actor="therapist", source="key", data={"note": note}))
        log.db.execute("COMMIT")
        log.end_session(s, notes="")
        # Weekly sessions of 40 minutes (the log's own wall times stay as written).
        start = BASE + timedelta(days=7 * (n // clients), hours=n % clients)
        log.db.execute("UPDATE sessions SET started=?, ended=? WHERE id=?",
                       (start.isoformat(timespec="milliseconds"),
                        (start + timedelta(minutes=40)).isoformat(timespec="milliseconds"), s.id))
    return ids


def describe(log: EventLog) -> dict[str, Any]:
    n_events = log.db.execute("SELECT count(*) FROM events").fetchone()[0]
    return {"sessions": len(log.sessions()), "events": n_events, "clients": len(log.clients())}
