"""Structured logging for every GuestGate process: JSON lines, or plain text for a terminal."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Messages written as "... trunk=ns/t peer=1.2.3.4:5060" give their key=value pairs as fields too.
_FIELD = re.compile(r"\b([a-z_]+)=(\S+)")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, msg, the record's extra fields and the
    key=value pairs of the message."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        for key, value in _FIELD.findall(message):
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
