"""The public tokenizer: vocabulary, encoding API (PaddleNLP's and transformers' keywords), decoding
and tokenizer directories."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .assembly import assemble, finish, gc_paused, to_tensors
from .options import EncodingOptions
from .pretrained import VOCAB_NAME, read_tokenizer_config, write_tokenizer_files
from .reference import ReferenceTokenizer
from .routing import Encoded, RoutedEncoder, build_backend
from .vocab import (CLS_TOKEN, DEFAULT_VOCAB_FILE, MASK_TOKEN, PAD_TOKEN, SEP_TOKEN, SPECIAL_TOKENS, UNK_TOKEN,
                    VocabError, load_vocab)


def _token_id(token: str) -> property:
    return property(lambda self: self._vocab[token], doc=f"id of {token}")


class BertTokenizer:
    """Chinese BERT(-wwm) tokenizer; ids equal transformers' slow ``BertTokenizer``.

    Args:
        vocab_file: path of ``vocab.txt``; default: the vocabulary shipped with paddle_wwm.
        do_lower_case: lower-case and strip accents (all Chinese BERT-wwm models: True).
        max_len: default ``max_length`` of :meth:`encode` / :meth:`__call__`.
        use_fast: encode through the Rust ``tokenizers`` library where it is exact
            (the default); False forces the pure-Python reference everywhere.
    """

    pad_token = PAD_TOKEN
    unk_token = UNK_TOKEN
    cls_token = CLS_TOKEN
    sep_token = SEP_TOKEN
    mask_token = MASK_TOKEN

    def __init__(self, vocab_file: str | os.PathLike | None = None, do_lower_case: bool = True,
                 max_len: int = 512, *, use_fast: bool = True):
        self.vocab_file = str(vocab_file if vocab_file is not None else DEFAULT_VOCAB_FILE)
        self._vocab = load_vocab(self.vocab_file)
        self._ids_to_tokens = list(self._vocab)
        self.do_lower_case = bool(do_lower_case)
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 2:
            raise ValueError(f"max_len must be an int >= 2, got {max_len!r}")
        self.max_len = max_len
        reference = ReferenceTokenizer(self._vocab, do_lower_case=self.do_lower_case)
        self.basic_tokenizer = reference.basic_tokenizer
        self.wordpiece_tokenizer = reference.wordpiece_tokenizer
        backend = build_backend(self._vocab, self.do_lower_case) if use_fast else None
        self._router = RoutedEncoder(reference, backend)

    # -- tokenizer directories --------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, **kwargs) -> BertTokenizer:
        """Tokenizer from a directory holding ``vocab.txt`` (and optionally the
        ``tokenizer_config.json`` of :meth:`save_pretrained`, transformers or PaddleNLP), or a
        path to the vocabulary file itself; ``None`` gives the shipped vocabulary. ``kwargs``
        override the directory's settings."""
        if path is None:
            return cls(None, **kwargs)
        p = Path(path)
        if p.is_dir():
            vocab_file = p / VOCAB_NAME
            if not vocab_file.is_file():
                raise VocabError(f"directory {str(p)!r} has no {VOCAB_NAME}")
            return cls(vocab_file, **{**read_tokenizer_config(p), **kwargs})
        if p.is_file():
            return cls(p, **kwargs)
        raise VocabError(f"{str(p)!r} is neither a directory with a {VOCAB_NAME} nor a vocab file")

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json`` to
        ``save_directory`` (created if needed), loadable by :meth:`from_pretrained` and by
        transformers' and PaddleNLP's ``BertTokenizer.from_pretrained``. Returns the paths."""
        paths = write_tokenizer_files(save_directory, self._ids_to_tokens, self.do_lower_case, self.max_len)
        return tuple(str(p) for p in paths)

    # -- vocabulary -------------------------------------------------------------------------
    @property
    def vocab(self) -> dict[str, int]:
        """token -> id (the tokenizer's own dict: do not modify it)."""
        return self._vocab

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab)

    pad_token_id = _token_id(PAD_TOKEN)
    unk_token_id = _token_id(UNK_TOKEN)
    cls_token_id = _token_id(CLS_TOKEN)
    sep_token_id = _token_id(SEP_TOKEN)
    mask_token_id = _token_id(MASK_TOKEN)

    @property
    def all_special_tokens(self) -> list[str]:
        return list(SPECIAL_TOKENS)

    @property
    def all_special_ids(self) -> list[int]:
        return [self._vocab[t] for t in SPECIAL_TOKENS]

    @property
    def backend_tokenizer(self):
        """The ``tokenizers.Tokenizer`` of the fast path (None with ``use_fast=False``).
        Its post-processor adds [CLS]/[SEP] like :meth:`encode`; note that it is not exact
        for every input (see :mod:`paddle_wwm.tokenization.routing`)."""
        return self._router.backend

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        """Unknown tokens map to the [UNK] id (as in transformers)."""
        unk = self._vocab[UNK_TOKEN]
        if isinstance(tokens, str):
            return self._vocab.get(tokens, unk)
        return [self._vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | list[str]:
        """Ids outside the vocabulary raise ``ValueError`` (transformers would return [UNK])."""
        if hasattr(ids, "tolist"):  # numpy array / paddle tensor
            ids = ids.tolist()
        if isinstance(ids, int):
            return self._id_to_token(ids)
        out = [self._id_to_token(int(i)) for i in ids]
        if skip_special_tokens:
            out = [t for t in out if t not in SPECIAL_TOKENS]
        return out

    def _id_to_token(self, index: int) -> str:
        if not 0 <= index < len(self._ids_to_tokens):
            raise ValueError(f"token id {index} is outside the vocabulary (size {len(self._ids_to_tokens)})")
        return self._ids_to_tokens[index]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens).replace(" ##", "").strip()

    def decode(self, ids, skip_special_tokens: bool = True, clean_up_tokenization_spaces: bool = True) -> str:
        """Ids back to text, like transformers: WordPiece pieces are glued, other tokens are
        separated by a space (so Chinese comes back as "我 爱 你"), and " ." -> "." etc."""
        tokens = self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        # As transformers does: special tokens are joined like any other token, so a "##piece"
        # after one is glued to it ("[MASK]d").
        text = self.convert_tokens_to_string(tokens)
        if clean_up_tokenization_spaces:
            text = _clean_up_tokenization(text)
        return text

    # -- encoding -----------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (no [CLS]/[SEP])."""
        _check_text(text, "text")
        return self._router.tokenize(text)

    def encode_plain(self, texts: Sequence[str], return_offsets: bool = False) -> list[Encoded]:
        """``(ids, offsets)`` of each text without special tokens, truncation or padding.

        The bulk path for corpus preparation: one call per batch of sentences, offsets (when
        asked) are ``(start, end)`` character spans of the original text, else None.
        """
        return self._router.encode(list(texts), return_offsets)

    def encode(self, text: str, text_pair: str | None = None, max_seq_len: int | None = None,
               truncation: str | bool = "longest_first", padding: str | bool = False,
               return_offsets: bool | None = None, add_special_tokens: bool = True, **keywords) -> dict:
        """Encode one text (or pair): :meth:`__call__` for a single example, lists by default."""
        if not keywords.get("is_split_into_words"):
            _check_text(text, "text")
        elif text and isinstance(text[0], (list, tuple)):
            raise TypeError("encode takes one example; call the tokenizer itself for a batch")
        return self(text, text_pair, max_seq_len, truncation, padding, return_offsets,
                    add_special_tokens=add_special_tokens, **keywords)

    def __call__(self, text, text_pair=None, max_seq_len: int | None = None,
                 truncation: str | bool = "longest_first", padding: str | bool = False,
                 return_offsets: bool | None = None, return_tensors: str | None = None,
                 add_special_tokens: bool = True, *, max_length: int | None = None,
                 return_offsets_mapping: bool | None = None, return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None, return_length: bool = False,
                 is_split_into_words: bool = False) -> dict:
        """Encode a text or a batch as ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``.

        Args:
            text: a str, or a list of them (a batch); with ``is_split_into_words``, a list of
                words (each tokenized on its own, offsets relative to the word), or a batch
                of such lists.
            text_pair: the second text(s) of pairs, shaped like ``text``.
            max_seq_len / max_length (aliases): length limit including special tokens;
                None: ``self.max_len``.
            truncation: "longest_first" (default: remove one token at a time from the longer
                sequence), "only_first", "only_second", True (= "longest_first"), or False:
                an input longer than the limit raises ``ValueError``.
            padding: False, "max_length" (to the limit) or "longest"/True (to the longest of
                the batch).
            return_offsets / return_offsets_mapping (aliases): add ``offset_mapping``,
                ``(start, end)`` character spans of the source text, ``(0, 0)`` for special
                and padding tokens.
            return_token_type_ids, return_attention_mask: False leaves that key out.
            return_length: add ``length`` (transformers' name) and ``seq_len`` (PaddleNLP's):
                the number of tokens before padding.
            return_tensors: None (lists), "np" (int64 numpy arrays) or "pd" (paddle tensors);
                tensors need sequences of one length (use padding) and have a batch dimension
                even for a single text.

        Returns: dict with ``input_ids``, ``token_type_ids``, ``attention_mask`` (and the keys
        asked for): per key a list for a single text, a list of lists for a batch.
        """
        opts = EncodingOptions.from_keywords(
            self.max_len, max_seq_len=max_seq_len, max_length=max_length, truncation=truncation,
            padding=padding, return_offsets=return_offsets, return_offsets_mapping=return_offsets_mapping,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_length=return_length, return_tensors=return_tensors, add_special_tokens=add_special_tokens,
            is_split_into_words=is_split_into_words)
        single, firsts = _as_batch(text, "text", opts.is_split_into_words)
        seconds = None
        if text_pair is not None:
            pair_single, seconds = _as_batch(text_pair, "text_pair", opts.is_split_into_words)
            if pair_single != single:
                raise TypeError("text_pair must be one example when text is one, and a batch when text is a batch")
            if len(seconds) != len(firsts):
                raise ValueError(f"got {len(firsts)} texts but {len(seconds)} text pairs")
        with gc_paused():
            result = finish(self._assemble_all(firsts, seconds, opts, single), opts, self.pad_token_id)
        if opts.return_tensors is not None:
            return to_tensors(result, opts.return_tensors)
        if single:
            return {k: v[0] for k, v in result.items()}
        return result

    def _assemble_all(self, firsts: list[list[str]], seconds: list[list[str]] | None, opts: EncodingOptions,
                      single: bool) -> list[dict]:
        """One unpadded encoding per example; each example is a list of pieces (a text, or words)."""
        n = len(firsts)
        examples = firsts if seconds is None else firsts + seconds
        if opts.is_split_into_words:
            words = self._router.encode([w for pieces in examples for w in pieces], opts.return_offsets)
            encoded, start = [], 0
            for pieces in examples:
                encoded.append(_join(words[start:start + len(pieces)], opts.return_offsets))
                start += len(pieces)
        else:
            encoded = self._router.encode([pieces[0] for pieces in examples], opts.return_offsets)
        cls_id, sep_id = self.cls_token_id, self.sep_token_id
        outs = []
        for i in range(n):
            second = encoded[n + i] if seconds is not None else None
            try:
                outs.append(assemble(encoded[i], second, opts, cls_id, sep_id))
            except ValueError as e:
                if single:
                    raise
                raise ValueError(f"batch item {i}: {e}") from None
        return outs


def _as_batch(text, name: str, split: bool) -> tuple[bool, list[list[str]]]:
    """``(single, examples)``: every example as the list of strings to encode and join."""
    if split:
        if isinstance(text, str) or not isinstance(text, (list, tuple)):
            raise TypeError(f"with is_split_into_words=True, {name} must be a list of words (or a list of such "
                            f"lists), got {type(text).__name__}")
        single = not (text and isinstance(text[0], (list, tuple)))
        batch = [text] if single else list(text)
        for i, words in enumerate(batch):
            if not isinstance(words, (list, tuple)):
                raise TypeError(f"{name}[{i}] must be a list of words, got {type(words).__name__}")
            for j, word in enumerate(words):
                _check_text(word, f"{name}[{j}]" if single else f"{name}[{i}][{j}]")
        return single, [list(words) for words in batch]
    if isinstance(text, str):
        return True, [[text]]
    if text is None or not isinstance(text, Iterable):
        raise TypeError(f"{name} must be a str or a list of str, got {type(text).__name__}")
    batch = list(text)
    for i, t in enumerate(batch):
        _check_text(t, f"{name}[{i}]")
    return False, [[t] for t in batch]


def _join(encoded: list[Encoded], with_offsets: bool) -> Encoded:
    """The encodings of the words of one example, one after the other."""
    ids: list[int] = []
    offsets = [] if with_offsets else None
    for word_ids, word_offsets in encoded:
        ids += word_ids
        if offsets is not None:
            offsets += word_offsets
    return ids, offsets


def _check_text(text, name: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")


def _clean_up_tokenization(text: str) -> str:
    """transformers' ``clean_up_tokenization``: remove spaces before some punctuation."""
    return (
        text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
        .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
        .replace(" 've", "'ve").replace(" 're", "'re")
    )
