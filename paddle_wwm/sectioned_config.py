"""Recipes as YAML files of sections (each a dataclass), overridden by ``section.key=value``
arguments: the one reader behind ``paddle-wwm pretrain`` and ``paddle-wwm finetune``.

Every error names the file (or the override) and the key and says what would be accepted, so a typo
in a recipe fails in a second rather than an hour into a job. A section class may define
``problems()``, a list of (key, message) for its values out of range: the first one is reported.
"""
from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path

import yaml


def suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_sections(path: str | os.PathLike | None, overrides: typing.Sequence[str], sections: dict[str, type],
                  error: type[Exception], recipes_dir: Path | None = None) -> tuple[dict, str]:
    """({section: dataclass instance} for the sections the file or overrides mention, source name).

    ``path`` may also be the bare name of a recipe in ``recipes_dir`` ("tiny" for tiny.yaml).
    """
    raw: dict = {}
    source = "defaults"
    if path is not None and recipes_dir is not None and not Path(path).exists() \
            and (recipes_dir / f"{path}.yaml").is_file():
        path = recipes_dir / f"{path}.yaml"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error(f"{path}: recipe not found") from None
        except UnicodeDecodeError as exc:
            raise error(f"{path}: not UTF-8 text ({exc.reason})") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise error(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise error(f"{path}: expected a mapping of sections {sorted(sections)}")
    for item in overrides:
        _apply_override(raw, item, error)
    built = {}
    for section, values in raw.items():
        if section not in sections:
            raise error(f"{source}: unknown section {section!r}{suggest(section, sections)}; "
                        f"sections are {sorted(sections)}")
        if not isinstance(values, dict):
            raise error(f"{source}: section {section!r} must be a mapping of keys to values")
        built[section] = _build_section(sections[section], values, f"{source}: {section}", error)
    return built, source


def _apply_override(raw: dict, item: str, error: type[Exception]) -> None:
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise error(f"override {item!r}: expected section.key=value, e.g. optimizer.learning_rate=2e-4")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise error(f"override {item!r}: cannot parse the value: {exc}") from None
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise error(f"override {item!r}: section {parts[0]!r} is not a mapping")
    section[parts[1]] = parsed


def _build_section(cls, values: dict, where: str, error: type[Exception]):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise error(f"{where}.{key}: unknown key{suggest(key, hints)}; keys are {sorted(hints)}")
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}", error)
    section = cls(**kwargs)
    problems = section.problems() if hasattr(section, "problems") else []
    if problems:  # a section that can check its own ranges, as the optimizer section does
        key, message = problems[0]
        raise error(f"{where}.{key}: {message}")
    return section


def _coerce(value, hint, where: str, error: type[Exception]):
    """Check ``value`` against a field's annotation; ints are accepted for floats."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is list:  # list[int] and the like
        (item_hint,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise error(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item_hint, f"{where}[{i}]", error) for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping"}[hint]
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise error(f"{where}: expected {expected}{' or null' if optional else ''}, got {value!r}")
    return value
