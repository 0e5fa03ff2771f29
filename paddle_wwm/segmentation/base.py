"""The segmenter interface, its error, and the whitespace rule that keeps every segmenter's
words inside the contract described in :mod:`paddle_wwm.segmentation`."""
from __future__ import annotations

import re
from typing import Sequence

from paddle_wwm.errors import PaddleWwmError

_WHITESPACE = re.compile(r"\s")  # the same characters as str.split() and str.isspace()


class SegmenterError(PaddleWwmError, ValueError):
    """A segmenter cannot be built: unknown spec, missing or unreadable model or dictionary file,
    library not installed. The message names the spec, path or package and how to fix it."""


class Segmenter:
    """Splits texts into words, a batch at a time (see the package docstring for the contract).

    ``spec`` recreates the segmenter with :func:`paddle_wwm.segmentation.get_segmenter`, which is
    how worker processes build their own copy. ``threaded`` is True where the library segments a
    batch on its own native threads: :func:`~paddle_wwm.segmentation.segment_parallel` then calls
    :meth:`segment_threaded` in this process instead of starting worker processes.
    """

    spec: str
    threaded: bool = False

    def segment(self, texts: Sequence[str]) -> list[list[str]]:
        """One word list per text, in order; an empty text gives ``[]``. Uses one CPU core."""
        raise NotImplementedError

    def segment_threaded(self, texts: Sequence[str]) -> list[list[str]]:
        """Like :meth:`segment`, on the library's own threads where ``threaded`` is True."""
        return self.segment(texts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def split_at_whitespace(text: str, words: list[str]) -> list[str]:
    """Cut words at whitespace and drop the whitespace.

    LTP glues whitespace to the word before it (``'曰 '``) and even joins across it (``'d 1'``),
    but whitespace always separates words, and a word that spans it would become one whole-word
    mask over two words. Texts without whitespace (nearly all Chinese sentences) pass untouched.
    """
    if not _WHITESPACE.search(text):
        return words
    return [piece for word in words for piece in word.split()]
