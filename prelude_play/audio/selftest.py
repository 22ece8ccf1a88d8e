"""``prelude-play selftest``: how late and how steady is sound on *this* machine?

Two measurements, chosen by what the machine offers:

* **Loopback** (the user wires the output back into an input: a cable from the headphone jack
  to the line in, or on JACK a connection ``PortAudio:out_1 → PortAudio:in_1``): a duplex
  stream plays short noise bursts at known output frames and records its input; each burst is
  found in the recording by cross-correlation. The lag is the *round-trip* latency (output
  buffer + converter + cable + input buffer); its spread is the jitter a client would feel.
* **Without loopback** (nothing correlates in the input): the host API's reported output
  latency, and the jitter of the audio callback's timing (the interval between callbacks
  against the nominal period) — what the engine's scheduling rests on.

The figures are printed (``--json`` for machines) and kept in ``<data dir>/selftest.json``,
from where the app copies them into each session's provenance, so a session records how
trustworthy its timing was.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prelude_play.config import AppConfig
from prelude_play.errors import DeviceError

BURST = 64  # samples of Hann-windowed noise: a sharp autocorrelation peak, a soft "tick"
BURST_AMP = 0.25  # quiet enough for a speaker left connected, far above any noise floor
MIN_CORR = 0.5  # normalised correlation for a burst to count as found


def burst(seed: int = 7, n: int = BURST) -> np.ndarray:
    """The test signal: seeded white noise under a Hann window (float32, peak ``BURST_AMP``)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.hanning(n)
    return (BURST_AMP * x / np.max(np.abs(x))).astype(np.float32)


def find_lags(recorded: np.ndarray, template: np.ndarray, positions: list[int], max_lag: int,
              min_corr: float = MIN_CORR) -> list[int | None]:
    """Lag (frames) of each ``template`` played at ``positions`` found in ``recorded``, or None.

    For each burst the recording from its position to ``max_lag`` later is cross-correlated
    with the template (FFT), normalised by the local energy; the best lag counts only if its
    normalised correlation reaches ``min_corr`` (so silence or an unrelated input gives None).
    """
    t = np.asarray(template, np.float64)
    n = t.size
    tn = float(np.sqrt(t @ t))
    out: list[int | None] = []
    for p in positions:
        seg = np.asarray(recorded[p : p + max_lag + n], np.float64)
        if seg.size < n:
            out.append(None)
            continue
        size = 1 << int(np.ceil(np.log2(seg.size + n)))
        corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(t, size)), size)[: seg.size - n + 1]
        energy = np.sqrt(np.maximum(np.convolve(seg * seg, np.ones(n), "valid"), 1e-30))
        norm = corr / (energy * tn)
        k = int(np.argmax(norm))
        out.append(k if norm[k] >= min_corr else None)
    return out


def stats_ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, np.float64)
    if a.size == 0:
        return {}
    return {"median": float(np.median(a)), "p99": float(np.percentile(a, 99)),
            "sd": float(np.std(a, ddof=1)) if a.size > 1 else 0.0, "min": float(a.min()), "max": float(a.max())}


@dataclass
class SelftestResult:
    """What ``selftest.json`` holds (all times in ms)."""

    measured_at: str
    host_api: str
    output_device: str
    input_device: str | None
    rate: int
    period: int
    reported_output_latency_ms: float
    reported_input_latency_ms: float | None
    callbacks: int
    callback_interval_ms: dict[str, float]
    callback_jitter_sd_ms: float
    xruns: int
    loopback: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _device_label(sd: Any, index: int | None) -> str:
    if index is None:
        return "default"
    info = sd.query_devices(index)
    return f"{info['name']} ({sd.query_hostapis(info['hostapi'])['name']})"


def measure(*, rate: int = 48000, period: int = 128, seconds: float = 3.0, device: Any = None,
            hostapi: str | None = "auto", bursts_per_s: float = 4.0, rescan: bool = True,
            on_open: Callable[[], None] | None = None) -> SelftestResult:
    """Open a duplex stream (output only if there is no input), play bursts, record, analyse.

    ``on_open`` runs once the stream is started and before the first burst (the real-stack
    test wires a JACK loopback there). Raises DeviceError when no output can be opened.
    """
    from prelude_play.audio.backends.portaudio import (import_sounddevice, pick_device, pick_hostapi,
                                                        stream_settings)

    sd = import_sounddevice()
    if rescan:  # PortAudio lists host APIs (JACK) only at initialisation
        sd._terminate()
        sd._initialize()
    api = pick_hostapi(sd, hostapi)
    out_dev = pick_device(sd, device, api, "output")
    try:
        in_dev = pick_device(sd, None, api, "input")
    except DeviceError:
        in_dev = None
    total = int((seconds + 0.5) * rate)
    tpl = burst()
    first = int(0.4 * rate)  # leave time for on_open / connections
    step = int(rate / bursts_per_s)
    positions = list(range(first, total - step, step))
    play = np.zeros(total, np.float32)
    for p in positions:
        play[p : p + tpl.size] = tpl
    rec = np.zeros(total, np.float32)
    n_cb = int(seconds * rate / period) + 64
    cb_ns = np.zeros(n_cb, np.int64)
    state = {"frame": 0, "cb": 0, "xruns": 0}

    def callback(*a: Any) -> None:
        # (indata, outdata, frames, time, status) or (outdata, frames, time, status)
        indata, outdata = (a[0], a[1]) if len(a) == 5 else (None, a[0])
        frames, status = a[-3], a[-1]
        i = state["cb"]
        if i < n_cb:
            cb_ns[i] = time.perf_counter_ns()
        state["cb"] = i + 1
        if status.output_underflow or status.input_overflow:
            state["xruns"] += 1
        f = state["frame"]
        k = max(0, min(frames, total - f))
        outdata.fill(0.0)
        if k:
            outdata[:k, 0] = play[f : f + k]
            if outdata.shape[1] > 1:
                outdata[:k, 1] = play[f : f + k]
            if indata is not None:
                rec[f : f + k] = indata[:k, 0]
        state["frame"] = f + frames

    kind = "duplex" if in_dev is not None else "output"
    try:
        if in_dev is not None:
            stream = sd.Stream(samplerate=rate, blocksize=period, device=(in_dev, out_dev), channels=(1, 2),
                               dtype="float32", latency="low", extra_settings=stream_settings(sd, api),
                               callback=callback)
        else:
            stream = sd.OutputStream(samplerate=rate, blocksize=period, device=out_dev, channels=2,
                                     dtype="float32", latency="low", extra_settings=stream_settings(sd, api),
                                     callback=callback)
    except Exception as exc:
        raise DeviceError(f"selftest cannot open the audio device: {exc}") from exc
    lat = stream.latency
    out_lat = float(lat[1] if isinstance(lat, (tuple, list)) else lat)
    in_lat = float(lat[0]) if isinstance(lat, (tuple, list)) else None
    with stream:
        if on_open is not None:
            on_open()
        deadline = time.monotonic() + seconds + 5.0
        while state["frame"] < total and time.monotonic() < deadline:
            time.sleep(0.05)
    ncb = min(state["cb"], n_cb)
    iv = np.diff(cb_ns[:ncb]) / 1e6 if ncb > 2 else np.zeros(0)
    nominal = period * 1000.0 / rate
    loop: dict[str, Any] = {"wired": False, "bursts": len(positions)}
    if in_dev is not None:
        lags = find_lags(rec, tpl, positions, max_lag=int(0.5 * rate))
        found = [lag * 1000.0 / rate for lag in lags if lag is not None]
        loop.update(found=len(found), wired=len(found) >= max(3, len(positions) // 2))
        if loop["wired"]:
            rt = stats_ms(found)
            loop["round_trip_ms"] = rt
            loop["round_trip_periods"] = rt["median"] / nominal
            loop["jitter_sd_ms"] = rt["sd"]
    return SelftestResult(
        measured_at=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        host_api=sd.query_hostapis(api)["name"] if api is not None else "default",
        output_device=_device_label(sd, stream.device[1] if kind == "duplex" else stream.device),
        input_device=_device_label(sd, stream.device[0]) if kind == "duplex" else None,
        rate=rate, period=period,
        reported_output_latency_ms=out_lat * 1000.0,
        reported_input_latency_ms=in_lat * 1000.0 if in_lat is not None else None,
        callbacks=int(state["cb"]),
        callback_interval_ms=stats_ms(list(iv)),
        callback_jitter_sd_ms=float(np.std(iv - nominal, ddof=1)) if iv.size > 1 else 0.0,
        xruns=int(state["xruns"]),
        loopback=loop,
    )


def describe(r: SelftestResult) -> str:
    lines = [f"Audio selftest — {r.host_api}: out {r.output_device}"
             + (f", in {r.input_device}" if r.input_device else "")
             + f", {r.rate} Hz, period {r.period} frames ({r.period * 1000 / r.rate:.2f} ms)",
             f"  reported output latency: {r.reported_output_latency_ms:.2f} ms"
             + (f"; input latency: {r.reported_input_latency_ms:.2f} ms" if r.reported_input_latency_ms else "")]
    iv = r.callback_interval_ms
    if iv:
        lines.append(f"  audio callback: {r.callbacks} callbacks, interval median {iv['median']:.3f} ms, "
                     f"max {iv['max']:.2f} ms, jitter SD {r.callback_jitter_sd_ms:.3f} ms; xruns {r.xruns}")
    lp = r.loopback
    if lp.get("wired"):
        rt = lp["round_trip_ms"]
        lines.append(f"  loopback: {lp['found']}/{lp['bursts']} bursts found; round trip median {rt['median']:.2f} ms "
                     f"({lp['round_trip_periods']:.2f} periods), p99 {rt['p99']:.2f} ms, jitter SD {rt['sd']:.3f} ms")
    else:
        lines.append("  loopback: none found (wire the output to an input to measure the round trip)")
    return "\n".join(lines)


def run_selftest(args: Any, data_dir: Path, cfg: AppConfig) -> int:
    """The ``selftest`` command: measure with ``cfg``'s rate, period and device (the command line
    loads it), print, keep in ``<data dir>/selftest.json``."""
    try:
        result = measure(rate=cfg.audio.rate, period=cfg.audio.period, device=cfg.audio.device or None,
                         seconds=float(getattr(args, "seconds", None) or 3.0))
    except DeviceError as exc:
        print(f"prelude-play selftest: {exc}", file=sys.stderr)
        return 1
    data = result.to_json()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "selftest.json").write_text(json.dumps(data, indent=2))
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    else:
        print(describe(result))
        print(f"  saved to {data_dir / 'selftest.json'} (added to each session's provenance)")
    return 0


__all__ = ["SelftestResult", "burst", "describe", "find_lags", "measure", "run_selftest", "stats_ms"]
