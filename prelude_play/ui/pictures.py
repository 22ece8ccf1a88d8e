"""Pictures (PNG, JPEG, SVG) loaded once and scaled once per size: cards, schedule steps.

Loading happens before a client waits (an activity's prepare, a schedule change), never while a
frame is drawn for a touch; a picture that is missing or unreadable comes back as a text for the
therapist and is drawn as a placeholder.
"""

from __future__ import annotations

from pathlib import Path

import pygame

from prelude_play.ui.images import KEEP_SIDE, PictureProblem, check_picture


class Pictures:
    """Card pictures loaded once (prepare time) and scaled once per card size."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self.raw: dict[str, pygame.Surface | None] = {}
        self._scaled: dict[tuple[str, int], pygame.Surface | None] = {}

    def find(self, name: str) -> Path | None:
        if not name:
            return None
        p = Path(name).expanduser()
        if p.is_absolute():
            return p if p.is_file() else None
        for folder in self.folders:
            q = folder / name
            if q.is_file():
                return q
        return None

    def load(self, name: str) -> str | None:
        """Load ``name``; returns an error text (the caller tells the therapist) or None."""
        if name in self.raw:
            return None if self.raw[name] is not None or not name else "missing"
        path = self.find(name)
        if path is None:
            self.raw[name] = None
            return f"picture '{name}' not found"
        try:
            check_picture(path)  # its size from the header: a 20000² PNG is never decoded
            if path.suffix.lower() == ".svg" and hasattr(pygame.image, "load_sized_svg"):
                surf = pygame.image.load_sized_svg(str(path), (512, 512))
            else:
                surf = pygame.image.load(str(path))
            w, h = surf.get_size()
            if max(w, h) > KEEP_SIDE:  # keep no more than a card can show
                k = KEEP_SIDE / max(w, h)
                scale = pygame.transform.smoothscale if surf.get_bitsize() in (24, 32) else pygame.transform.scale
                surf = scale(surf, (max(1, int(w * k)), max(1, int(h * k))))
        except PictureProblem as exc:
            self.raw[name] = None
            return f"picture '{name}': {exc}"
        except (pygame.error, OSError, ValueError, MemoryError) as exc:
            self.raw[name] = None
            return f"picture '{name}' could not be read ({exc})"
        self.raw[name] = surf.convert_alpha() if pygame.display.get_surface() is not None else surf
        return None

    def get(self, name: str, box: int) -> pygame.Surface | None:
        key = (name, box)
        if key not in self._scaled:
            raw = self.raw.get(name)
            if raw is None:
                self._scaled[key] = None
            else:
                w, h = raw.get_size()
                k = box / max(w, h)
                size = (max(1, int(w * k)), max(1, int(h * k)))
                src = raw if raw.get_bitsize() in (24, 32) else raw.convert_alpha()
                self._scaled[key] = pygame.transform.smoothscale(src, size)
        return self._scaled[key]
