"""What every part is handed: quick or full, and a scratch directory of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    quick: bool
    work_dir: Path

    def scratch(self, part: str) -> Path:
        path = self.work_dir / part
        path.mkdir(parents=True, exist_ok=True)
        return path
