"""jieba: the default segmenter. It ships its dictionary, so it works offline, and it returns an
exact partition of the text (whitespace comes back as words of its own)."""
from __future__ import annotations

import logging
import os
from typing import Sequence

from .base import Segmenter, SegmenterError


def check_user_dict(user_dict: str) -> str:
    """The absolute path of a jieba user dictionary, or an error naming the missing file."""
    path = os.path.abspath(os.path.expanduser(user_dict))
    if not os.path.isfile(path):
        raise SegmenterError(f"jieba user dictionary {path} does not exist: pass an existing file "
                             "with one 'word [frequency] [tag]' a line (spec 'jieba:USER_DICT_FILE')")
    return path


class JiebaSegmenter(Segmenter):
    """jieba's precise mode (``lcut``), HMM for unknown words on, as jieba's own default.

    A private ``jieba.Tokenizer`` rather than jieba's global one: a user dictionary loaded here does
    not leak into other code of the process, and two segmenters with different dictionaries can live
    side by side. The dictionary is built eagerly, so the first batch is not the slow one.
    """

    def __init__(self, user_dict: str | None = None, hmm: bool = True):
        try:
            import jieba
        except ImportError as error:
            raise SegmenterError("the jieba segmenter needs jieba: pip install jieba") from error
        self.hmm = hmm
        self._tokenizer = jieba.Tokenizer()
        # jieba logs "Building prefix dict ..." at DEBUG on its stderr handler; quiet it for this call
        # only, leaving jieba's logger as the user configured it.
        logger = logging.getLogger("jieba")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            self._tokenizer.initialize()
        finally:
            logger.setLevel(level)
        self.spec = "jieba"
        if user_dict is not None:
            path = check_user_dict(user_dict)
            try:
                self._tokenizer.load_userdict(path)
            except (ValueError, UnicodeDecodeError) as error:
                raise SegmenterError(f"cannot read jieba user dictionary {path}: {error}") from error
            self.spec = f"jieba:{path}"

    def segment(self, texts: Sequence[str]) -> list[list[str]]:
        cut, hmm = self._tokenizer.lcut, self.hmm
        return [cut(text, HMM=hmm) for text in texts]
