"""Bytes → mido Messages, robust against whatever a device or a cable sends.

Handles running status, real-time bytes interleaved anywhere, SysEx (ignored by default, and
always bounded), stray data bytes and undefined status bytes. It never raises and never holds
more than ``max_sysex`` bytes, so a flood of garbage cannot grow memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import mido

# Data bytes each channel status (high nibble) takes.
_CHANNEL_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
# System common messages and their data lengths (F4/F5 are undefined).
_COMMON_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_TIMING = (0xF8, 0xF1)  # clock and MTC quarter frame, as rtmidi's "timing" flag
_ACTIVE_SENSE = 0xFE


class MidiDecoder:
    """Stateful per-device decoder. ``feed()`` returns the complete messages in ``data``."""

    def __init__(
        self,
        *,
        ignore_sysex: bool = True,
        ignore_timing: bool = True,
        ignore_active_sense: bool = True,
        max_sysex: int = 512,
    ) -> None:
        self.ignore_sysex = ignore_sysex
        self.ignore_timing = ignore_timing
        self.ignore_active_sense = ignore_active_sense
        self.max_sysex = max_sysex
        self._status = 0  # running status (0: none)
        self._need = 0
        self._data: list[int] = []
        self._sysex: list[int] | None = None
        self._sysex_overflow = False
        self.garbage = 0  # bytes that could not be part of any message
        self.ignored = 0  # messages dropped on purpose (timing, sensing, sysex)

    def reset(self) -> None:
        self._status = 0
        self._need = 0
        self._data = []
        self._sysex = None

    def feed(self, data: Iterable[int]) -> list[mido.Message]:
        out: list[mido.Message] = []
        for b in data:
            try:
                b = int(b)
            except (TypeError, ValueError, OverflowError):  # None, "x", float("inf") ...
                self.garbage += 1
                continue
            if not 0 <= b <= 0xFF:
                self.garbage += 1
                continue
            if b >= 0xF8:
                self._realtime(b, out)
            elif b >= 0x80:
                self._status_byte(b, out)
            else:
                self._data_byte(b, out)
        return out

    def _realtime(self, b: int, out: list[mido.Message]) -> None:
        if b in (0xF9, 0xFD):
            self.garbage += 1
        elif (b == 0xF8 and self.ignore_timing) or (b == _ACTIVE_SENSE and self.ignore_active_sense):
            self.ignored += 1
        else:
            self._emit([b], out)

    def _end_sysex(self, out: list[mido.Message], complete: bool) -> None:
        sysex, self._sysex = self._sysex, None
        if sysex is None:
            return
        if not complete or self._sysex_overflow or self.ignore_sysex:
            self.ignored += 1
            return
        self._emit([0xF0, *sysex, 0xF7], out)

    def _status_byte(self, b: int, out: list[mido.Message]) -> None:
        if b == 0xF7:
            if self._sysex is None:
                self.garbage += 1
            self._end_sysex(out, complete=True)
            return
        if self._sysex is not None:
            self._end_sysex(out, complete=False)  # a status byte cuts an unterminated SysEx
        if self._data:
            self.garbage += len(self._data)  # an incomplete message is abandoned
            self._data = []
        if b == 0xF0:
            self._status, self._need = 0, 0
            self._sysex = []
            self._sysex_overflow = False
        elif b < 0xF0:
            self._status, self._need = b, _CHANNEL_LEN[b & 0xF0]
        elif b in _COMMON_LEN:
            self._status, self._need = 0, 0  # system common cancels running status
            if _COMMON_LEN[b] == 0:
                self._emit([b], out)
            else:
                self._status, self._need = b, _COMMON_LEN[b]
        else:  # F4, F5 undefined
            self._status, self._need = 0, 0
            self.garbage += 1

    def _data_byte(self, b: int, out: list[mido.Message]) -> None:
        if self._sysex is not None:
            if len(self._sysex) < self.max_sysex:
                self._sysex.append(b)
            else:
                self._sysex_overflow = True
            return
        if not self._status:
            self.garbage += 1
            return
        self._data.append(b)
        if len(self._data) < self._need:
            return
        msg_bytes = [self._status, *self._data]
        self._data = []
        if self._status >= 0xF0:  # system common: no running status after it
            self._status, self._need = 0, 0
            if msg_bytes[0] == 0xF1 and self.ignore_timing:
                self.ignored += 1
                return
        self._emit(msg_bytes, out)

    def _emit(self, msg_bytes: list[int], out: list[mido.Message]) -> None:
        try:
            out.append(mido.Message.from_bytes(msg_bytes))
        except (ValueError, TypeError):
            self.garbage += len(msg_bytes)
