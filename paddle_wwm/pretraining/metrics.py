"""Training scalars: JSON lines (one record per logging step) and VisualDL when it is installed.

On resume the records after the resumed step are dropped first (the file is rewritten through a
temporary file), so the log reads as one uninterrupted run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from paddle_wwm.atomic_files import write_text_atomic

LOG_FILE = "log.jsonl"


def read_log(output_dir: str | os.PathLike) -> list[dict]:
    path = Path(output_dir) / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsLog:
    def __init__(self, output_dir: str | os.PathLike, enabled: bool = True):
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self._file = None
        self._visualdl = None

    def truncate_after(self, step: int) -> None:
        """Keep only the records of steps <= ``step``."""
        if not self.enabled or not (self.output_dir / LOG_FILE).exists():
            return
        kept = [r for r in read_log(self.output_dir) if r["step"] <= step]
        write_text_atomic(self.output_dir / LOG_FILE, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        if self._file is None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.output_dir / LOG_FILE, "a", encoding="utf-8")
            try:
                from visualdl import LogWriter

                self._visualdl = LogWriter(logdir=str(self.output_dir / "visualdl"))
            except ImportError:
                self._visualdl = None
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._visualdl is not None:
            for key, value in record.items():
                if key not in ("step", "epoch"):
                    self._visualdl.add_scalar(tag=f"pretrain/{key}", step=record["step"], value=value)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._visualdl is not None:
            self._visualdl.close()
            self._visualdl = None
