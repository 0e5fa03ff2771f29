"""``DataError`` and the one JSON loader of the task data, prediction and metric files."""
from __future__ import annotations

import json
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError


class DataError(PaddleWwmError, ValueError):
    """A malformed file or record; the message starts with ``file:line`` (or ``file: qid``)."""


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs):
    # json.loads silently keeps the last of two equal keys; in a data or prediction file that
    # hides a writer bug, so it is an error.
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def load_json(path, what: str = "file"):
    """The JSON value of ``path`` (UTF-8, a byte-order mark allowed). A missing file is a
    ``FileNotFoundError``; invalid UTF-8, invalid JSON and a key given twice in one object are a
    ``DataError`` naming the file and the line. ``what`` names the file in the not-found message."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 ({error.reason})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: invalid JSON: {error.msg} (column {error.colno})") from None
    except _DuplicateKey as error:
        raise DataError(f"{path}: duplicate key {error.args[0]!r} in a JSON object") from None
