"""Word segmenters behind one small batched interface, for whole word masking.

Whole word masking needs to know where Chinese words begin; a segmenter says so once per corpus
(the slow step of preparing pre-training data), and :mod:`paddle_wwm.wwm` aligns its words to the
tokenizer's character offsets. Pick a segmenter by a spec string, which also travels to worker
processes:

* ``"jieba"`` (default; works offline) or ``"jieba:USER_DICT_FILE"``;
* ``"ltp:PATH_OR_HUB_ID"``: the segmenter of the seed's authors. A local LTP model directory
  (neural, or the legacy perceptron whose ``config.json`` reads
  ``{"nerual": false, "tasks": {"cws": "cws_model.bin"}}``), a perceptron ``.bin`` file, or a hub
  id such as ``LTP/small`` (downloaded, so not offline). Needs ``pip install ltp``.

Contract of the word lists, which the alignment relies on
---------------------------------------------------------
``segment(texts)`` returns one list of words per text, in the order of ``texts``, and:

* every word is a non-empty substring of its text, and the words occur in the text in order
  without overlapping (each is found by ``text.find(word, end_of_previous_word)``);
* only whitespace is left out: between two words, before the first and after the last there is
  nothing but whitespace, and no character is altered (no normalisation, no case change);
* a word is either free of whitespace or whitespace only. jieba returns an exact partition, so
  whitespace comes back as words of its own (``"".join(words) == text``); LTP drops whitespace;
* an empty text gives ``[]``.

Nothing here imports jieba, ltp or torch until a segmenter of that kind is built.
"""
from __future__ import annotations

import functools
from typing import Sequence

from paddle_wwm.parallel import OrderedPool

from .base import Segmenter, SegmenterError, split_at_whitespace
from .jieba_segmenter import JiebaSegmenter, check_user_dict
from .ltp_segmenter import LTPPerceptronSegmenter, LTPSegmenter, resolve_ltp

__all__ = ["Segmenter", "SegmenterError", "get_segmenter", "segment_parallel", "JiebaSegmenter",
           "LTPSegmenter", "LTPPerceptronSegmenter", "split_at_whitespace"]

DEFAULT_SPEC = "jieba"
_SPEC_HELP = "use 'jieba', 'jieba:USER_DICT_FILE' or 'ltp:PATH_OR_HUB_ID'"


def _resolve(spec: str) -> tuple[type[Segmenter], dict]:
    """The class and arguments a spec names. Paths are checked here, in the caller's process."""
    name, _, argument = spec.strip().partition(":")
    name = name.lower()
    if name == "jieba":
        return JiebaSegmenter, {"user_dict": check_user_dict(argument) if argument else None}
    if name == "ltp":
        if not argument:
            raise SegmenterError(f"segmenter spec {spec!r} names no model: {_SPEC_HELP}")
        return resolve_ltp(argument)
    raise SegmenterError(f"unknown segmenter spec {spec!r}: {_SPEC_HELP}")


def get_segmenter(spec: str = DEFAULT_SPEC) -> Segmenter:
    """Build the segmenter a spec names (see the module docstring); ``.spec`` gives it back in a
    canonical form (absolute paths) that rebuilds it anywhere on this machine."""
    segmenter_class, kwargs = _resolve(spec)
    return segmenter_class(**kwargs)


def segment_parallel(spec: str, texts: Sequence[str], workers: int = 1,
                     chunk_size: int = 2000) -> list[list[str]]:
    """``get_segmenter(spec).segment(texts)`` on several cores; the result is in the order of
    ``texts`` and equal to the one-worker result.

    ``workers <= 1`` segments in this process. A segmenter with native threads (the LTP
    perceptron) uses them, in this process, whatever ``workers`` > 1 says. Otherwise a pool of
    ``workers`` processes ('fork' on Linux: nothing to re-import) builds the segmenter once per
    worker and segments ``chunk_size`` texts per task; the pool is skipped when there is only one
    chunk, because one chunk keeps only one worker busy.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    segmenter_class, kwargs = _resolve(spec)
    if workers > 1 and segmenter_class.threaded:
        return segmenter_class(**kwargs).segment_threaded(texts)
    if workers <= 1 or len(texts) <= chunk_size:
        return segmenter_class(**kwargs).segment(texts)
    chunks = [texts[start:start + chunk_size] for start in range(0, len(texts), chunk_size)]
    with OrderedPool(min(workers, len(chunks)), functools.partial(_segment_function, segmenter_class, kwargs)) as pool:
        return [words for chunk in pool.map(chunks) for words in chunk]


def _segment_function(segmenter_class: type[Segmenter], kwargs: dict):
    return segmenter_class(**kwargs).segment
