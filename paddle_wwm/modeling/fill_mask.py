"""Fill-mask: the likeliest tokens for the ``[MASK]`` tokens of a text, with probabilities.

One ``[MASK]`` is one softmax over the vocabulary at its position. Several ``[MASK]`` tokens
(a whole word masked as its characters, as whole word masking trains the model to fill them)
are predicted jointly, by a beam search left to right: each candidate of the beam fills the
first open mask, the model runs again on the text with it filled, and a filling is scored by
the sum of the log-probabilities of its tokens, each given the ones filled before it. Position
by position independently, "[MASK][MASK]" can come out as a pair of characters that are each
likely but never go together.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.errors import InvalidInputError

DEFAULT_TOP_K = 5
DEFAULT_BEAM_SIZE = 10  # at least top_k; a beam of 1 would be greedy, which misses the example above


class FillMaskError(InvalidInputError):
    """A text fill-mask cannot take; the message quotes it."""


@dataclass(frozen=True)
class Filling:
    """One candidate: the tokens for the masks in order, and how likely they are together."""
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    score: float  # sum of the tokens' log-probabilities (natural log)
    sequence: str  # the text with its masks replaced by the tokens

    @property
    def probability(self) -> float:
        return float(np.exp(self.score))

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "token_ids": list(self.token_ids), "score": self.score,
                "probability": self.probability, "sequence": self.sequence}


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def encode_masked(tokenizer, text: str, max_len: int) -> tuple[list[int], list[tuple[int, int]], list[int]]:
    """([CLS] ids [SEP], character spans of the tokens (None for the specials), mask positions)."""
    if not isinstance(text, str):
        raise FillMaskError(f"fill-mask takes a text (str), got {type(text).__name__}")
    if not text.strip():
        raise FillMaskError(f"empty text {text!r}: give a text with {tokenizer.mask_token} where the "
                            "missing token goes")
    (ids, offsets), = tokenizer.encode_plain([text], return_offsets=True)
    ids = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    offsets = [None, *offsets, None]
    masks = [i for i, token_id in enumerate(ids) if token_id == tokenizer.mask_token_id]
    if not masks:
        raise FillMaskError(f"no {tokenizer.mask_token} in the text {_quoted(text)}: mark the missing "
                            f"token(s) with {tokenizer.mask_token}, e.g. 北京是中国的{tokenizer.mask_token}都。")
    if len(ids) > max_len:
        raise FillMaskError(f"the text {_quoted(text)} is {len(ids)} tokens with [CLS] and [SEP], more than "
                            f"the {max_len} the model takes: shorten it around the mask")
    return ids, offsets, masks


def _log_probs(model, rows: np.ndarray, position: int) -> np.ndarray:
    """log-softmax over the vocabulary at ``position`` of each row of token ids."""
    input_ids = paddle.to_tensor(rows)
    with paddle.no_grad():
        logits = model(input_ids, paddle.zeros_like(input_ids), paddle.ones_like(input_ids))
    if isinstance(logits, (tuple, list)):  # BertForPretraining: (mlm_logits, nsp_logits)
        logits = logits[0]
    return F.log_softmax(logits[:, position].astype("float32"), axis=-1).numpy().astype(np.float64)


def fill_mask(model, tokenizer, text: str, top_k: int = DEFAULT_TOP_K, beam_size: int | None = None,
              max_len: int | None = None) -> list[Filling]:
    """The ``top_k`` likeliest fillings of the masks in ``text``, best first.

    ``model`` maps (input_ids, token_type_ids, attention_mask) to MLM logits [batch, seq, vocab]
    (``BertForMaskedLM``, or ``BertForPretraining`` whose first output they are); ``tokenizer``
    is its :class:`~paddle_wwm.tokenization.BertTokenizer`. ``beam_size`` candidates (default
    the larger of top_k and 10) are kept after each mask; with one mask the result is exactly the
    top_k of the softmax. ``max_len``: the most tokens the model takes (default its position embeddings).
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise FillMaskError(f"top_k must be a positive int, got {top_k!r}")
    beam_size = max(top_k, DEFAULT_BEAM_SIZE) if beam_size is None else beam_size
    if beam_size < top_k:
        raise FillMaskError(f"beam_size {beam_size} is smaller than top_k {top_k}")
    if max_len is None:
        max_len = model.config.max_position_embeddings
    ids, offsets, masks = encode_masked(tokenizer, text, max_len)
    model.eval()
    beam: list[tuple[tuple[int, ...], float]] = [((), 0.0)]  # (ids filled so far, summed log-prob)
    for step, position in enumerate(masks):
        rows = np.tile(np.asarray(ids, dtype=np.int64), (len(beam), 1))
        for row, (filled, _) in zip(rows, beam):
            row[masks[:step]] = filled  # the masks before this one, filled by this candidate
        log_probs = _log_probs(model, rows, position)
        width = min(beam_size, log_probs.shape[1])
        candidates = []
        for (filled, score), row in zip(beam, log_probs):
            best = np.argpartition(-row, width - 1)[:width]
            candidates += [(filled + (int(t),), score + float(row[t])) for t in best]
        candidates.sort(key=lambda c: -c[1])
        beam = candidates[:beam_size]
    return [_filling(tokenizer, text, offsets, masks, filled, score) for filled, score in beam[:top_k]]


def _filling(tokenizer, text, offsets, masks, filled, score) -> Filling:
    tokens = tuple(tokenizer.convert_ids_to_tokens(list(filled)))
    pieces, end = [], 0
    for position, token in zip(masks, tokens):
        start, stop = offsets[position]
        pieces += [text[end:start], token[2:] if token.startswith("##") else token]
        end = stop
    return Filling(tokens, tuple(filled), score, "".join(pieces) + text[end:])
