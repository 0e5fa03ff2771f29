"""LTP, the segmenter the seed's authors used for whole word masking.

Two kinds of model, told apart by the directory's ``config.json``:

* neural LTP 4 models (``{"nerual": true, ...}``: weights, tokenizer) or a hub id such as
  ``LTP/small``, run by ``ltp.LTP(location).pipeline(texts, tasks=["cws"])``, on the GPU when torch
  sees one;
* the legacy perceptron (``{"nerual": false, "tasks": {"cws": "cws_model.bin"}}``; the key is
  spelled ``nerual`` by LTP), or a path straight to its ``.bin`` file. It is loaded with
  ``ltp_extension.perceptron.CWSModel`` itself, which is what ``ltp.LTP`` does for such a directory
  after importing torch and transformers for nothing (seconds per worker).

``ltp`` and torch are imported only when a segmenter is built, never by ``import paddle_wwm``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
from typing import Sequence

from .base import Segmenter, SegmenterError, split_at_whitespace

CONFIG_NAME = "config.json"
# Hugging Face hub ids: "owner/name", optionally "@revision"; "LTP/small", "LTP/legacy@main".
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
_INSTALL_HINT = "pip install ltp"


def resolve_ltp(location: str) -> tuple[type[Segmenter], dict]:
    """The segmenter class and its arguments for ``ltp:LOCATION``, checked without loading LTP.

    Resolving in the calling process means a wrong path fails there, with its name, before any
    worker process starts.
    """
    path = os.path.abspath(os.path.expanduser(location))
    if os.path.isfile(path):
        return LTPPerceptronSegmenter, {"model_file": path}
    if os.path.isdir(path):
        config_file = os.path.join(path, CONFIG_NAME)
        if not os.path.isfile(config_file):
            raise SegmenterError(f"{path} has no {CONFIG_NAME}, so it is not an LTP model directory: pass a "
                                 "directory saved by LTP (config.json and weights) or a perceptron cws_model.bin")
        try:
            with open(config_file, encoding="utf-8") as f:
                config = json.load(f)
            neural = config.get("nerual", True)  # sic: LTP's own spelling
        except (ValueError, AttributeError) as error:
            raise SegmenterError(f"{config_file} is not an LTP config (a JSON object): {error}") from error
        if neural:
            return LTPSegmenter, {"location": path}
        cws_name = (config.get("tasks") or {}).get("cws")
        if not cws_name:
            raise SegmenterError(f"{config_file} names no segmentation model: expected "
                                 '"tasks": {"cws": "cws_model.bin"}')
        model_file = os.path.join(path, cws_name)
        if not os.path.isfile(model_file):
            raise SegmenterError(f"{config_file} names the segmentation model {cws_name}, "
                                 f"but {model_file} does not exist")
        return LTPPerceptronSegmenter, {"model_file": model_file, "location": path}
    if _HUB_ID.match(location):
        return LTPSegmenter, {"location": location}
    raise SegmenterError(f"LTP model {path} does not exist: pass a local LTP model directory, "
                         "a perceptron .bin file, or a hub id such as LTP/small (downloads need the network)")


class LTPPerceptronSegmenter(Segmenter):
    """The legacy LTP perceptron: about 5x faster than jieba on one core, and its batch prediction
    runs on native (rayon) threads without the GIL, so it parallelises without worker processes.

    :meth:`segment` stays on one thread on purpose: a caller that forks its own workers (the corpus
    preparation does) must not have each of them start a thread per core.
    """

    threaded = True

    def __init__(self, model_file: str, location: str | None = None):
        self.spec = f"ltp:{location or model_file}"
        try:
            from ltp_extension.perceptron import CWSModel
        except ImportError as error:
            raise SegmenterError(f"segmenter {self.spec!r} needs LTP: {_INSTALL_HINT}") from error
        try:
            self._model = CWSModel.load(model_file)
        except RuntimeError as error:  # the Rust side appends a backtrace: keep the first line
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SegmenterError(f"cannot load the LTP perceptron model {model_file}: {reason}") from error

    def segment(self, texts: Sequence[str]) -> list[list[str]]:
        return self._predict(texts, parallelism=False)

    def segment_threaded(self, texts: Sequence[str]) -> list[list[str]]:
        """On rayon's thread pool: one thread per core (``RAYON_NUM_THREADS`` caps it)."""
        return self._predict(texts, parallelism=True)

    def _predict(self, texts: Sequence[str], parallelism: bool) -> list[list[str]]:
        texts = list(texts)
        batch = self._model.batch_predict(texts, parallelism)
        return [split_at_whitespace(text, words) for text, words in zip(texts, batch)]


class LTPSegmenter(Segmenter):
    """Anything ``ltp.LTP`` loads: neural LTP 4 models from a directory or the hub (and hub
    ``LTP/legacy``). Texts go to the model ``batch_size`` at a time, sorted by length so that a
    batch pads little; texts longer than ``max_chars`` are cut into pieces first, because the model
    truncates its input at 512 tokens and would silently lose the end of the text.
    """

    max_chars = 500  # at most 500 tokens: a WordPiece token covers at least one character

    def __init__(self, location: str, batch_size: int = 32, device: str | None = None):
        self.spec = f"ltp:{location}"
        self.batch_size = batch_size
        try:
            import ltp
        except ImportError as error:
            raise SegmenterError(f"segmenter {self.spec!r} needs LTP: {_INSTALL_HINT}") from error
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # ltp prints "Loading weights from ..."
                model = ltp.LTP(location)
        except Exception as error:  # network, hub and file errors alike: name the model and the way out
            raise SegmenterError(
                f"cannot load the LTP model {location}: {type(error).__name__}: {error}. Hub ids are downloaded "
                "from Hugging Face; offline, pass a local model directory (ltp:/path/to/model)") from error
        if hasattr(model, "to"):  # neural models are torch modules; the perceptron runs on CPU
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            model = model.to(device)
        self.device = device
        self._model = model

    def segment(self, texts: Sequence[str]) -> list[list[str]]:
        pieces, owners = [], []
        for index, text in enumerate(texts):
            for piece in split_long_text(text, self.max_chars):
                pieces.append(piece)
                owners.append(index)
        piece_words: list[list[str]] = [[] for _ in pieces]
        by_length = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        for start in range(0, len(by_length), self.batch_size):
            batch = by_length[start:start + self.batch_size]
            output = self._model.pipeline([pieces[i] for i in batch], tasks=["cws"])
            for i, words in zip(batch, output.cws):
                piece_words[i] = split_at_whitespace(pieces[i], words)
        words_per_text: list[list[str]] = [[] for _ in texts]
        for owner, words in zip(owners, piece_words):
            words_per_text[owner].extend(words)
        return words_per_text


_CUT_AFTER = set("。！？；，、.!?;,") | {" ", "\n", "\t", "\u3000"}


def split_long_text(text: str, max_chars: int) -> list[str]:
    """Consecutive pieces of ``text`` of at most ``max_chars`` characters, whitespace-only pieces
    left out. A piece ends after the last punctuation or space in its second half where there is
    one, so that a cut rarely falls inside a word."""
    pieces = []
    start = 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            for cut in range(end, start + max_chars // 2, -1):
                if text[cut - 1] in _CUT_AFTER:
                    end = cut
                    break
        if not text[start:end].isspace():
            pieces.append(text[start:end])
        start = end
    return pieces
