"""The options of one encoding call, validated once into a frozen record.

The keywords are those of PaddleNLP's and transformers' tokenizers (``max_length``,
``return_offsets_mapping``, ...) alongside this package's older names (``max_seq_len``,
``return_offsets``); an alias pair given with two different values is an error.
"""
from __future__ import annotations

from dataclasses import dataclass

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING_STRATEGIES = ("max_length", "longest")
TENSOR_TYPES = ("np", "pd")


@dataclass(frozen=True)
class EncodingOptions:
    """How to encode.

    Attributes:
        max_length: length limit, special tokens included (truncation and ``"max_length"`` padding).
        truncation: "longest_first", "only_first", "only_second", or None: an input longer than
            ``max_length`` is an error.
        padding: "longest" (to the longest of the batch), "max_length", or None.
        add_special_tokens: wrap as ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``.
        return_offsets: add ``offset_mapping`` (character spans of the source text).
        return_token_type_ids, return_attention_mask: include those keys.
        return_length: add ``length`` and ``seq_len``: tokens before padding (= sum of the mask).
        return_tensors: None (lists), "np" (int64 numpy arrays) or "pd" (paddle tensors).
        is_split_into_words: the input is a list of words, each tokenized on its own.
    """

    max_length: int
    truncation: str | None = "longest_first"
    padding: str | None = None
    add_special_tokens: bool = True
    return_offsets: bool = False
    return_token_type_ids: bool = True
    return_attention_mask: bool = True
    return_length: bool = False
    return_tensors: str | None = None
    is_split_into_words: bool = False

    def __post_init__(self):
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length < 0:
            raise ValueError(f"max_length (max_seq_len) must be a non-negative int, got {self.max_length!r}")
        if self.truncation is not None and self.truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation must be one of {TRUNCATION_STRATEGIES} or True/False, got {self.truncation!r}")
        if self.padding is not None and self.padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding must be one of {PADDING_STRATEGIES} or True/False, got {self.padding!r}")
        if self.return_tensors is not None and self.return_tensors not in TENSOR_TYPES:
            raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {self.return_tensors!r}")

    @classmethod
    def from_keywords(cls, default_max_length: int, *, max_seq_len=None, max_length=None,
                      truncation="longest_first", padding=False, return_offsets=None,
                      return_offsets_mapping=None, return_token_type_ids=None, return_attention_mask=None,
                      return_length=False, return_tensors=None, add_special_tokens=True,
                      is_split_into_words=False) -> EncodingOptions:
        """The record for the keywords of :meth:`BertTokenizer.__call__` (see there)."""
        limit = _one_of_aliases("max_seq_len", max_seq_len, "max_length", max_length)
        offsets = _one_of_aliases("return_offsets", return_offsets, "return_offsets_mapping", return_offsets_mapping)
        return cls(
            max_length=default_max_length if limit is None else limit,
            truncation=_strategy(truncation, "longest_first", "do_not_truncate"),
            padding=_strategy(padding, "longest", "do_not_pad"),
            add_special_tokens=bool(add_special_tokens),
            return_offsets=bool(offsets),
            return_token_type_ids=return_token_type_ids is None or bool(return_token_type_ids),
            return_attention_mask=return_attention_mask is None or bool(return_attention_mask),
            return_length=bool(return_length),
            return_tensors=return_tensors,
            is_split_into_words=bool(is_split_into_words),
        )


def _one_of_aliases(name_a: str, a, name_b: str, b):
    if a is not None and b is not None and a != b:
        raise ValueError(f"{name_a}={a!r} and {name_b}={b!r} disagree: they are one option, give one of them")
    return a if a is not None else b


def _strategy(value, when_true: str, off_name: str) -> str | None:
    """transformers' spelling of a strategy: True means ``when_true``; False, None and
    ``off_name`` mean off. Other values are checked by :class:`EncodingOptions`."""
    if value is True:
        return when_true
    if value is None or value is False or value == off_name:
        return None
    return value
