"""Vowel templates on the whole harmonic envelope: the second opinion that keeps back vowels.

Why: a back rounded vowel ("oo", "oh") puts F1 and F2 into one broad hump below ~1 kHz. LPC
then spends one pole pair on the hump and calls whatever it finds at 2-3 kHz "F2", and the
two-peak classifier hears "eh" or "ee". The envelope itself is unambiguous: all the energy is
low. So every vowel also gets a template of its whole log envelope (``harmonic_envelope``:
dB at the harmonics, on a log-frequency grid), learnt from recorded
voices (``tools/train_vowel_model.py`` on ``bench/voiceset.py``).

A token is compared with each template after fitting what differs between speakers and rooms
rather than vowels:

- the **speaker's scale**: a shorter vocal tract moves every formant by the same factor, which
  on a log-frequency axis is a shift; we try shifts in ``SHIFTS`` with a prior on the shift
  predicted from f0 (as ``vowels.Reference`` does for formants);
- the **level and spectral tilt** (voice effort, microphone): a free offset and a lightly
  penalised slope, fitted by least squares;
- the **part of the grid below f0**, which holds no harmonic and is ignored.

The fit's residual is the cost; costs become posteriors in ``vowels.VowelClassifier``.
Per-client calibration (``adapt``) moves the templates towards the client's own envelopes and
fixes the shift at the client's, as a MAP estimate with the general templates as the prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

# The envelope: log amplitude (dB) of the harmonic peaks, interpolated on a log-frequency grid.
# Log frequency because a shorter vocal tract moves every formant by the same factor, i.e.
# shifts this envelope sideways.
ENV_LO, ENV_HI, ENVELOPE_POINTS = 150.0, 5000.0, 36
ENV_LOG_GRID = np.linspace(np.log(ENV_LO), np.log(ENV_HI), ENVELOPE_POINTS)
ENV_LOG_GRID.flags.writeable = False


ENV_FLOOR_DB = 40.0  # below the peak: deeper valleys are noise floor or digital silence
RESIDUAL_CLIP_DB = 12.0  # one stray harmonic (a noise spike, a synthesiser's valley) costs no more


def harmonic_envelope(freqs: np.ndarray, amps_db: np.ndarray) -> np.ndarray:
    """dB on ``ENV_LOG_GRID`` (held flat beyond the first and last harmonic), peak at 0 dB,
    nothing below -ENV_FLOOR_DB (a recording's room noise sits there; a synthesiser's
    silence would otherwise dig 70 dB valleys no recorded voice has)."""
    env = np.interp(ENV_LOG_GRID, np.log(freqs), amps_db)
    return np.maximum(env - env.max(), -ENV_FLOOR_DB)


N_VOWELS = 5  # in vowels.VOWELS order
STEP = 0.05  # template grid step and shift step (log-Hz)
SHIFTS = np.arange(-0.35, 0.65 + 1e-9, STEP)
TEMPLATE_GRID = np.arange(ENV_LOG_GRID[0] - 0.7, ENV_LOG_GRID[-1] + 0.4 + 1e-9, STEP)
_GC = ENV_LOG_GRID - ENV_LOG_GRID.mean()
TILT_SD = 10.0  # dB per log-Hz unit (~7 dB/octave): the tilt a voice or a mic adds
BELOW_F0 = 0.85  # grid points below this fraction of f0 are not used
DOF = 10.0  # the cost is scaled to ~ a chi-square with this many degrees of freedom


@dataclass(frozen=True, eq=False)  # arrays inside: identity, not element-wise, equality
class EnvelopeModel:
    """Templates (dB on ``TEMPLATE_GRID``, one row per vowel) and the shift prior."""

    templates: np.ndarray
    sigma: float  # residual SD (dB) of a token about its own vowel's template
    shift_intercept: float
    shift_slope: float  # shift per unit log(f0 / 150 Hz)
    shift_sd: float
    _shifted: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = np.asarray(self.templates, dtype=np.float64)
        # M[v, k, g] = template v read at grid point g for a speaker shifted by SHIFTS[k]
        # (one product with the interpolation weights: a session adaptation makes a model
        # after every segment, and 105 np.interp calls cost milliseconds)
        m = np.einsum("kgt,vt->vkg", _shift_reader(), t)
        m.flags.writeable = False
        object.__setattr__(self, "_shifted", m)

    def predicted_shift(self, f0: float) -> float:
        return self.shift_intercept + self.shift_slope * float(np.log(max(f0, 50.0) / 150.0))

    def costs(self, envelope: np.ndarray, f0: float) -> tuple[np.ndarray, np.ndarray]:
        """Per vowel: the best cost over speaker shifts (fit + shift prior) and that shift."""
        w = _weights(f0)
        p = _residual_maker(w)
        r = np.clip((envelope[None, None, :] - self._shifted) @ p.T, -RESIDUAL_CLIP_DB, RESIDUAL_CLIP_DB)
        fit = (r * r * w).sum(axis=-1) * (DOF / max(float(w.sum()), 1.0) / self.sigma**2)
        prior = ((SHIFTS - self.predicted_shift(f0)) / self.shift_sd) ** 2
        c = fit + prior[None, :]
        k = np.argmin(c, axis=1)
        rows = np.arange(N_VOWELS)
        return c[rows, k], SHIFTS[k]

    def to_dict(self) -> dict[str, object]:
        return {
            "templates": np.round(self.templates, 2).tolist(), "sigma": round(self.sigma, 4),
            "shift_intercept": round(self.shift_intercept, 4),
            "shift_slope": round(self.shift_slope, 4), "shift_sd": round(self.shift_sd, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> EnvelopeModel:
        return cls(np.asarray(d["templates"], dtype=np.float64), float(d["sigma"]),
                   float(d["shift_intercept"]), float(d["shift_slope"]), float(d["shift_sd"]))


@lru_cache(maxsize=1)
def _shift_reader() -> np.ndarray:
    """R[k, g, :] @ template = the template (on TEMPLATE_GRID) read by linear interpolation at
    ENV_LOG_GRID[g] - SHIFTS[k]: np.interp is linear in the values, so its weights are a matrix."""
    eye = np.eye(len(TEMPLATE_GRID))
    r = np.array([[np.interp(ENV_LOG_GRID - s, TEMPLATE_GRID, eye[j]) for j in range(len(TEMPLATE_GRID))]
                  for s in SHIFTS]).transpose(0, 2, 1)
    r.flags.writeable = False
    return r


def _weights(f0: float) -> np.ndarray:
    return (ENV_LOG_GRID >= np.log(max(f0 * BELOW_F0, 1.0))).astype(np.float64)


@lru_cache(maxsize=64)
def _residual_maker_cached(key: bytes) -> np.ndarray:
    w = np.frombuffer(key, dtype=np.float64)
    b = np.stack([np.ones_like(_GC), _GC], axis=1)
    ridge = np.diag([0.0, (4.0 / TILT_SD) ** 2])
    a = np.linalg.solve(b.T @ (b * w[:, None]) + ridge + 1e-9 * np.eye(2), (b * w[:, None]).T)
    out = np.eye(len(_GC)) - b @ a
    out.flags.writeable = False
    return out


def _residual_maker(w: np.ndarray) -> np.ndarray:
    """P with P @ d = d minus its fitted offset and (penalised) tilt, weighted by ``w``. The
    weights only ever mask a prefix of the grid, so there are few distinct ones: cached."""
    return _residual_maker_cached(w.tobytes())


def _aligned(model_t: np.ndarray, e: np.ndarray, f0: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """``e`` with the offset/tilt it has relative to ``model_t`` (at ``shift``) removed, and the
    template-grid indices its points land on (-1 where masked or off the grid)."""
    w = _weights(f0)
    m = np.interp(ENV_LOG_GRID - shift, TEMPLATE_GRID, model_t)
    d = e - m
    e2 = e - (d - _residual_maker(w) @ d)
    gi = np.rint((ENV_LOG_GRID - shift - TEMPLATE_GRID[0]) / STEP).astype(int)
    gi[(gi < 0) | (gi >= len(TEMPLATE_GRID)) | (w == 0)] = -1
    return e2, gi


def fit(
    envelopes: np.ndarray, f0s: np.ndarray, labels: np.ndarray, *, iterations: int = 6,
    initial_slope: float = 0.25, weights: np.ndarray | None = None,
) -> EnvelopeModel:
    """Learn templates by alternating: align each token to its vowel's template (best shift),
    then average the aligned tokens. ``labels`` are vowel indices (``vowels.VOWELS`` order);
    ``weights`` (default 1) let every speaker count the same however many tokens it has.

    Tokens are placed on the template grid at the nearest point, as the templates are read
    (at shifts that are multiples of STEP): the alternate points of a template may differ a
    little, and that consistency fits held-out speakers better than interpolating (tried).
    """
    envelopes = np.asarray(envelopes, dtype=np.float64)
    f0s = np.asarray(f0s, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    n = len(labels)
    wts = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    shifts = initial_slope * np.log(f0s / 150.0)
    t = np.zeros((N_VOWELS, len(TEMPLATE_GRID)))
    model = None
    for it in range(iterations):
        acc = np.zeros_like(t)
        cnt = np.zeros_like(t)
        for e, f, y, s, wt in zip(envelopes, f0s, labels, shifts, wts):
            if it == 0:
                w = _weights(f)
                e2 = e - float((e * w).sum() / max(w.sum(), 1.0))
                gi = np.rint((ENV_LOG_GRID - s - TEMPLATE_GRID[0]) / STEP).astype(int)
                gi[(gi < 0) | (gi >= len(TEMPLATE_GRID)) | (w == 0)] = -1
            else:
                e2, gi = _aligned(t[y], e, f, s)
            ok = gi >= 0
            np.add.at(acc[y], gi[ok], wt * e2[ok])
            np.add.at(cnt[y], gi[ok], wt)
        for v in range(N_VOWELS):
            have = cnt[v] > 0
            if have.any():
                t[v] = np.interp(TEMPLATE_GRID, TEMPLATE_GRID[have], acc[v][have] / cnt[v][have])
        prev = model
        model = EnvelopeModel(t.copy(), prev.sigma if prev else 4.0,
                              prev.shift_intercept if prev else 0.0,
                              prev.shift_slope if prev else initial_slope,
                              prev.shift_sd if prev else 0.2)
        res = np.zeros(n)
        for i, (e, f, y) in enumerate(zip(envelopes, f0s, labels)):
            _, sh = model.costs(e, f)
            shifts[i] = sh[y]
            w = _weights(f)
            m = np.interp(ENV_LOG_GRID - shifts[i], TEMPLATE_GRID, t[y])
            r = _residual_maker(w) @ (e - m)
            res[i] = float((r * r * w).sum() / max(w.sum(), 1.0))
        a = np.stack([np.ones(n), np.log(f0s / 150.0)], axis=1)
        sw = np.sqrt(wts)
        b0, b1 = np.linalg.lstsq(a * sw[:, None], shifts * sw, rcond=None)[0]
        resid = shifts - a @ np.array([b0, b1])
        sd = max(0.08, float(np.sqrt(np.average(resid**2, weights=wts))))
        model = EnvelopeModel(t.copy(), float(np.sqrt(np.average(res, weights=wts))), float(b0), float(b1), sd)
    assert model is not None
    return model


# Chosen on the tuning voices (bench_voiceset, leave-one-speaker-out, 1 and 3 tokens per vowel):
# trusting the client's own tokens almost entirely beat shrinking them towards the general
# templates (prior weight 1 token: 85.6 % -> 0.25: 91.1 % with one token per vowel)
CLIENT_SHIFT_SD = 0.02  # the client's vocal tract does not change when they sing higher
PRIOR_TOKENS = 0.25  # weight (in tokens) of the general template in a calibrated one


def adapt(
    model: EnvelopeModel, tokens: Sequence[tuple[int, np.ndarray, float]], *,
    prior_tokens: float | None = None, shift_sd: float | None = None,
) -> EnvelopeModel:
    """A client's model from a few labelled envelopes ``(vowel index, envelope, f0)``.

    The client's shift is the one that best fits all their tokens to the general templates;
    each vowel's template becomes the mean of the client's aligned tokens and the general
    template (weight ``prior_tokens``, default ``PRIOR_TOKENS``); the shift prior is centred on
    the client's shift whatever the f0 (a client singing high keeps their vocal tract), with SD
    ``shift_sd`` (default ``CLIENT_SHIFT_SD``).
    """
    onehot = [(np.eye(N_VOWELS)[y], e, f) for y, e, f in tokens]
    return adapt_soft(model, onehot, prior_tokens=prior_tokens, shift_sd=shift_sd)


SOFT_MIN = 0.05  # a token weighs nothing on a vowel less likely than this


def adapt_soft(
    model: EnvelopeModel, tokens: Sequence[tuple[np.ndarray, np.ndarray, float]], *,
    prior_tokens: float | None = None, shift_sd: float | None = None,
) -> EnvelopeModel:
    """``adapt`` with uncertain labels ``(weight per vowel, envelope, f0)``: a token counts
    towards each vowel's template and the shift fit by its weight for that vowel (for the
    session adaptation, the general model's posteriors: a token it is unsure of pulls on both
    vowels it hesitates between, not wholly on its guess)."""
    prior_w = PRIOR_TOKENS if prior_tokens is None else float(prior_tokens)
    sd = CLIENT_SHIFT_SD if shift_sd is None else float(shift_sd)
    if not tokens:
        return model
    total = np.zeros(len(SHIFTS))
    for q, e, f in tokens:
        w = _weights(f)
        use = np.flatnonzero(np.asarray(q) >= SOFT_MIN)
        r = (e[None, None, :] - model._shifted[use]) @ _residual_maker(w).T
        total += np.asarray(q)[use] @ ((r * r * w).sum(axis=-1) / max(float(w.sum()), 1.0))
    shift = float(SHIFTS[int(np.argmin(total))])
    t = np.array(model.templates, dtype=np.float64)
    for v in range(N_VOWELS):
        mine = [(float(q[v]), e, f) for q, e, f in tokens if q[v] >= SOFT_MIN]
        if not mine:
            continue
        acc = prior_w * t[v]
        cnt = np.full(len(TEMPLATE_GRID), prior_w)
        for wt, e, f in mine:
            e2, gi = _aligned(model.templates[v], e, f, shift)
            ok = gi >= 0
            np.add.at(acc, gi[ok], wt * e2[ok])
            np.add.at(cnt, gi[ok], wt)
        t[v] = acc / cnt
    return EnvelopeModel(t, model.sigma, shift, 0.0, sd)


@lru_cache(maxsize=1)
def default_model() -> EnvelopeModel | None:
    """The model trained on the dev set's recorded voices (``_envelope_weights.py``, written by
    ``tools/train_vowel_model.py``); None only while bootstrapping that file."""
    try:
        from ._envelope_weights import WEIGHTS
    except ImportError:
        return None
    return EnvelopeModel.from_dict(WEIGHTS)
