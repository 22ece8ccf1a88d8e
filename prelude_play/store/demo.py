"""Realistic made-up session data for the export benchmark, report screenshots and tests.

Logged the way a live session logs (``prelude_play.session.live`` and ``ActivityContext``): an
activity opens a trial (a board shown, a model played, a call sung, a cue given), the client's
response carries the trial's id, the activity judges it where it can, the therapist scores some
trials (the score supersedes the judgement), undoes or edits some scores (corrections, never
overwrites), and the trial closes. Some trials end with no response and no score ("not scored").
Plan steps target the client's own goals on some steps only, and the therapist sometimes targets
one live. Deterministic for a seed: clients improve over sessions, a new activity joins midway (a
phase change), touches are filtered, notes are written. Nothing here runs during a real session.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from prelude_play.clock import FakeClock
from prelude_play.events import LogEvent
from prelude_play.ids import uuid7
from prelude_play.store.clients import ClientBook
from prelude_play.store.eventlog import EventLog, Session

ACTIVITIES: dict[str, tuple[str, ...]] = {
    "choice_board": ("functional_communication", "self_expression"),
    "drum_turns": ("turn_taking", "social", "musical"),
    "vowel_match": ("speech_communication", "musical"),
    "scarf_moves": ("gross_motor", "attention_executive"),
}
# What opens a trial in each activity, what the client's response is logged as, and whether the
# activity can judge the response itself (scarf moves cannot: the therapist scores or nobody does).
OPPORTUNITY = {"choice_board": ("board_shown", "choice", True), "drum_turns": ("model_played", "copy", True),
               "vowel_match": ("call_sung", "vowel", True), "scarf_moves": ("cue_given", "move", False)}
PROMPTS = ["independent", "gestural", "verbal", "model", "physical"]
CODES = {"independent": "+I", "gestural": "+G", "verbal": "+V", "model": "+M", "physical": "+P"}
OWN_GOALS = [("Waits for own turn on the drum", "turn_taking", "80% of trials over 3 sessions"),
             ("Matches 3 vowel sounds in call and response", "speech_communication", "70% over 2 sessions"),
             ("Chooses between two songs by touch", "functional_communication", "80% of trials over 3 sessions")]
BASE = datetime(2025, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
NOTES = ["Calm start; engaged quickly with the drum.", "Tired today, needed more verbal prompts.",
         "Sang 'ah' back spontaneously twice!", "Parent reports better turn-taking at home.", ""]
NOTES_FR = ["Début calme; s'est engagé rapidement avec le tambour.", "Fatigué aujourd'hui, a eu besoin d'incitations "
            "verbales.", "A chanté \"ah\" spontanément deux fois!", "Le parent rapporte de meilleurs tours à la maison.", ""]


class SessionWriter:
    """Writes one session's events with the kinds, actors and ids the live session uses.

    Every call advances the clock a little and returns the new event's id; tests use it to log
    sessions whose truth they know.
    """

    def __init__(self, log: EventLog, session: Session, clock: FakeClock) -> None:
        self.log, self.s, self.clock = log, session, clock
        self.areas: tuple[str, ...] = ()
        self.targets: tuple[str, ...] = ()
        self.goals_of: dict[str, tuple[str, ...]] = {}
        self.written = 0

    def _log(self, ev: LogEvent, ms: float = 0.0) -> str:
        if ms:
            self.clock.advance(ms=ms)
        ev.t_ns = self.clock.now_ns()
        self.written += 1
        return self.log.log(self.s, ev)

    def goals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.targets + self.areas))

    def start(self, activity: str, areas: tuple[str, ...], targets: tuple[str, ...] = (),
              settings: dict[str, Any] | None = None) -> str:
        self.s.activity, self.areas, self.targets = activity, tuple(areas), tuple(targets)
        return self._log(LogEvent("activity_start", actor="system", goals=self.goals(),
                                  data={"version": "0.1.0", "settings": settings or {}, "targets": list(targets)}))

    def target(self, targets: tuple[str, ...], ms: float = 500) -> str:
        """The therapist changes the goals this step works on, live."""
        self.targets = tuple(targets)
        return self._log(LogEvent("goals_targeted", actor="therapist", goals=self.targets,
                                  data={"targets": list(self.targets)}), ms)

    def stop(self, ms: float = 500) -> str:
        eid = self._log(LogEvent("activity_stop", actor="system"), ms)
        self.s.activity = "home"
        return eid

    def open(self, opportunity: str, ms: float = 800, data: dict[str, Any] | None = None) -> str:
        tid = uuid7()
        self.goals_of[tid] = self.goals()
        self._log(LogEvent("trial_open", actor="system", goals=self.goals_of[tid], trial=tid,
                           data={"opportunity": opportunity, "areas": list(self.areas), **(data or {})}), ms)
        return tid

    def respond(self, tid: str, kind: str, data: dict[str, Any] | None = None, ms: float = 1500,
                source: str = "touch") -> str:
        return self._log(LogEvent(kind, actor="client", source=source, goals=self.goals_of[tid], trial=tid,
                                  data=data or {}), ms)

    def judge(self, tid: str, outcome: str, prompt: str = "independent", ms: float = 50,
              data: dict[str, Any] | None = None) -> str:
        return self._log(LogEvent("judgement", actor="system", goals=self.goals_of[tid], trial=tid, outcome=outcome,
                                  prompt=prompt, data=data or {}), ms)

    def score(self, tid: str, outcome: str, prompt: str = "independent", ms: float = 900, code: str | None = None,
              landed: str = "open") -> str:
        code = code or (CODES.get(prompt, "+I") if outcome == "success" else
                        {"partial": "±", "not_yet": "-", "no_response": "NR"}.get(outcome, outcome))
        return self._log(LogEvent("score", actor="therapist", source="touch", goals=self.goals_of[tid], trial=tid,
                                  outcome=outcome, prompt=prompt,
                                  data={"code": code, "landed": landed, "source": "touch"}), ms)

    def close(self, tid: str, reason: str = "response", ms: float = 100) -> str:
        return self._log(LogEvent("trial_close", actor="system", goals=self.goals_of[tid], trial=tid,
                                  data={"reason": reason}), ms)

    def therapist_trial(self, outcome: str, prompt: str = "independent", ms: float = 1500) -> tuple[str, str]:
        """A score with no open trial (free play, a response the activity did not see): its own trial."""
        tid = uuid7()
        self.goals_of[tid] = self.goals()
        self._log(LogEvent("trial_open", actor="therapist", source="touch", goals=self.goals_of[tid], trial=tid,
                           data={"opportunity": "therapist"}), ms)
        eid = self.score(tid, outcome, prompt, ms=0, landed="new")
        self._log(LogEvent("trial_close", actor="therapist", goals=self.goals_of[tid], trial=tid,
                           data={"reason": "scored"}))
        return tid, eid

    def undo(self, event_id: str, tid: str | None = None, ms: float = 1200) -> str:
        """Undo a score (or, given a correction's id, undo that undo)."""
        return self._log(LogEvent("correction", actor="therapist", source="touch", corrects=event_id, trial=tid,
                                  goals=self.goals_of.get(tid or "", ()), data={"action": "undo"}), ms)

    def edit(self, score_id: str, tid: str, outcome: str, prompt: str, ms: float = 1200) -> str:
        return self._log(LogEvent("correction", actor="therapist", source="touch", corrects=score_id, trial=tid,
                                  goals=self.goals_of[tid], outcome=outcome, prompt=prompt,
                                  data={"action": "edit", "outcome": outcome, "prompt": prompt}), ms)

    def hit(self, ms: float = 600, **data: Any) -> str:
        return self._log(LogEvent("hit", source="midi", device="pad", goals=self.goals(), data=data), ms)

    def filtered(self, reason: str = "repeat", ms: float = 300) -> str:
        return self._log(LogEvent("filtered_touch", source="touch", goals=self.goals(), data={"reason": reason}), ms)

    def note(self, text: str, ms: float = 1000) -> str:
        return self._log(LogEvent("note", actor="therapist", source="key", data={"note": text}), ms)


def provenance(language: str = "en") -> dict[str, Any]:
    return {"app_version": "0.1.0", "activities": {a: "0.1.0" for a in ACTIVITIES}, "language": language,
            "config": {"demo": True, "scoring": {"prompt_levels": PROMPTS, "min_trials_for_level": 5}}}


def _trial(w: SessionWriter, rnd: random.Random, activity: str, p: float) -> None:
    """One opportunity of ``activity`` for a client who succeeds with probability about ``p``."""
    opportunity, response, judges = OPPORTUNITY[activity]
    prompt = "independent" if rnd.random() < 0.55 + 0.4 * p else rnd.choice(PROMPTS[1:])  # the armed prompt
    tid = w.open(opportunity, ms=rnd.uniform(1500, 6000))
    if rnd.random() < 0.08:  # no response: the window times out
        if judges:
            w.judge(tid, "no_response", prompt, ms=rnd.uniform(4000, 8000), data={"timeout": True})
        w.close(tid, "timeout", ms=0 if judges else rnd.uniform(4000, 8000))
        return
    data = {"choice": {"card": rnd.choice(["drum", "guitar", "more", "all done"])},
            "copy": {"hits": rnd.randint(1, 6)},
            "vowel": {"vowel": rnd.choice("aiu"), "f0": round(rnd.uniform(180, 320), 1)},
            "move": {"scarf": rnd.choice(["up", "down", "wave"])}}[response]
    w.respond(tid, response, data, ms=rnd.uniform(800, 4000))
    outcome = rnd.choices(["success", "partial", "not_yet"], [p, 0.25, 0.2 * (1 - p) + 0.05])[0]
    if judges:
        w.judge(tid, outcome, prompt)
        w.close(tid)
        if rnd.random() < 0.25:  # the therapist saw it otherwise: their score supersedes the judgement
            seen = rnd.choices(["success", "partial", "not_yet"], [p + 0.1, 0.3, 0.2])[0]
            _scored(w, rnd, tid, seen, prompt if seen == "success" else "independent")
    else:
        w.close(tid, "moved_on", ms=rnd.uniform(500, 2000))
        if rnd.random() < 0.8:  # scarf moves: scored by the therapist, or not at all
            _scored(w, rnd, tid, outcome, prompt)


def _scored(w: SessionWriter, rnd: random.Random, tid: str, outcome: str, prompt: str) -> None:
    eid = w.score(tid, outcome, prompt, ms=rnd.uniform(300, 2500), landed="recent")
    r = rnd.random()
    if r < 0.05:
        c = w.undo(eid, tid)
        if rnd.random() < 0.3:  # undo of the undo: the score stands again
            w.undo(c, tid)
    elif r < 0.09:
        w.edit(eid, tid, "success", rnd.choice(PROMPTS[:3]))


def make_store(log: EventLog, *, sessions: int = 100, events_per_session: int = 500, clients: int = 1,
               seed: int = 1, language: str = "en") -> list[str]:
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
    notes = NOTES_FR if language.startswith("fr") else NOTES
    for n in range(sessions):
        cid = ids[n % clients]
        own = {g["area"]: f"client:{g['id']}" for g in log.client_profile(cid)["goals"]}
        progress = (n // clients) / max(1, sessions // clients - 1)
        s = log.start_session(cid, provenance(language),
                              plan="Hello to goodbye" if progress < 0.5 else "Hello to goodbye + voice")
        w = SessionWriter(log, s, clock)
        acts = ["choice_board", "drum_turns", "scarf_moves"] + (["vowel_match"] if progress >= 0.4 else [])
        per_act = max(6, events_per_session // len(acts))
        for a in acts:
            areas = ACTIVITIES[a]
            # Plan steps name the client goals they work on; choice board's only every other session,
            # and then the therapist may target it live midway.
            targeted = a in ("drum_turns", "vowel_match") or (a == "choice_board" and n % 2 == 0)
            targets = tuple(own[g] for g in areas if g in own) if targeted else ()
            start = w.written
            w.start(a, areas, targets, settings={"level": 1 + int(progress * 3)})
            late_target = a == "choice_board" and not targeted and rnd.random() < 0.5
            p = 0.25 + 0.65 * progress + rnd.uniform(-0.15, 0.15)
            while w.written - start < per_act - 7:
                if late_target and w.written - start > per_act // 2:
                    w.target(tuple(own[g] for g in areas if g in own))
                    late_target = False
                r = rnd.random()
                if r < 0.42:
                    w.hit(ms=rnd.uniform(300, 2500), note=rnd.choice([36, 38, 42]), velocity=rnd.randint(30, 127))
                elif r < 0.47:
                    w.filtered(rnd.choice(["repeat", "short_hold"]))
                elif r < 0.49 and a != "scarf_moves":
                    w.therapist_trial(*rnd.choice([("success", "independent"), ("success", "verbal"),
                                                   ("partial", "independent")]))
                else:
                    _trial(w, rnd, a, p)
            w.stop()
        note = rnd.choice(notes)
        while w.written < events_per_session - bool(note):
            w._log(LogEvent("hit", source="touch", goals=("self_expression",), data={"pad": w.written % 4}),
                   rnd.uniform(300, 1500))
        if note:
            w.note(note)
        log.end_session(s, notes="")
        # Weekly sessions; the wall times are labels (the length comes from the monotonic clock).
        start_at = BASE + timedelta(days=7 * (n // clients), hours=n % clients)
        length = log.session(s.id)["duration_ms"] or 0.0  # type: ignore[index]
        log.db.execute("UPDATE sessions SET started=?, ended=? WHERE id=?",
                       (start_at.isoformat(timespec="milliseconds"),
                        (start_at + timedelta(milliseconds=length)).isoformat(timespec="milliseconds"), s.id))
    return ids


def describe(log: EventLog) -> dict[str, Any]:
    n_events = log.db.execute("SELECT count(*) FROM events").fetchone()[0]
    n_trials = log.db.execute("SELECT count(DISTINCT trial_id) FROM events WHERE trial_id IS NOT NULL").fetchone()[0]
    return {"sessions": len(log.sessions()), "events": n_events, "trials": n_trials, "clients": len(log.clients())}
