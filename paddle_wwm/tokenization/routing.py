"""The fast path: the Rust ``tokenizers`` library where it gives the reference's results.

``WordPiece`` + ``BertNormalizer`` + ``BertPreTokenizer`` implement the same algorithm as
:mod:`.reference`, but their Unicode tables differ from Python's for a few hundred characters
(``docs/tokenization.md`` lists the kinds, ``tests/test_tokenization_unicode.py`` proves each).
Rather than freezing a table that depends on the installed ``tokenizers`` and on Python's
Unicode version, :class:`RoutedEncoder` checks each character the first time it meets it: the
probe ``"a" + c + "b"`` goes through both implementations and must give the same words, tokens
and offsets. A text containing any character that fails goes to the reference (cased mode: also
any text that is not NFC); the others go to Rust. Per-character checking suffices because the
normalisation is character-wise; the context-dependent steps (canonical reordering, NFC
composition, WordPiece) behave alike for characters that pass.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from .reference import ITEM_CHAR, MAX_INPUT_CHARS_PER_WORD, ReferenceTokenizer
from .vocab import CLS_TOKEN, SEP_TOKEN, SPECIAL_TOKENS, UNK_TOKEN

Encoded = tuple[list[int], "list | None"]  # (ids, offsets or None), no special tokens


def build_backend(vocab: dict[str, int], do_lower_case: bool):
    """The Rust tokenizer of the fast path (None when ``tokenizers`` is not installed)."""
    try:
        from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors
    except ImportError:  # pragma: no cover - tokenizers is a dependency
        return None
    tok = Tokenizer(models.WordPiece(vocab, unk_token=UNK_TOKEN, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=do_lower_case
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS_TOKEN} $A {SEP_TOKEN}",
        pair=f"{CLS_TOKEN} $A {SEP_TOKEN} $B:1 {SEP_TOKEN}:1",
        special_tokens=[(CLS_TOKEN, vocab[CLS_TOKEN]), (SEP_TOKEN, vocab[SEP_TOKEN])],
    )
    # Literal special tokens in the text stay whole, as in the reference (which splits them off
    # the raw text first, case-sensitively): matched on the raw text, not normalised.
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL_TOKENS])
    return tok


class RoutedEncoder:
    """Encodes texts through Rust where that is exact for them, through the reference otherwise.

    Args:
        reference: the pure-Python tokenizer (defines the results).
        backend: the ``tokenizers.Tokenizer`` of :func:`build_backend`, or None (reference only).
    """

    def __init__(self, reference: ReferenceTokenizer, backend=None):
        self.reference = reference
        self.backend = backend
        self.do_lower_case = reference.basic_tokenizer.do_lower_case
        self._checked: set[str] = set()  # characters probed so far
        self._route_chars: set[str] = set()  # those that send a text to the reference

    def _char_agrees(self, ch: str) -> bool:
        """Whether Rust gives the reference's words, tokens and offsets around ``ch``."""
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return False  # a lone surrogate cannot be passed to Rust
        backend, basic = self.backend, self.reference.basic_tokenizer
        probe = "a" + ch + "b"
        pure = self.reference.tokens(probe)
        pure_words = [w for w, _ in basic.words_with_offsets(probe)]
        rust_words = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(probe))]
        enc = backend.encode(probe, add_special_tokens=False)
        if not (rust_words == pure_words and enc.tokens == [t for t, _, _ in pure]
                and [tuple(o) for o in enc.offsets] == [(a, b) for _, a, b in pure]):
            return False
        items = basic.char_items(ch)
        if any(it[0] == ITEM_CHAR and it[2] and unicodedata.category(it[1]) != "Mn" for it in items):
            # Spacing marks with a non-zero combining class (U+302E, U+1D165, ...): ids agree,
            # but after canonical reordering next to a stripped accent Rust's offsets are off
            # by one. The single-character probe cannot see it.
            return False
        if not self.do_lower_case:
            # Cased mode: the reference NFC-normalises after the cleaning, Rust never does; a
            # character that the cleaning removes may make a composition or a literal "[MASK]"
            # appear. (Texts that are not NFC are routed per text in fast_ok.)
            return bool(items)
        return True

    def fast_ok(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text may go through the Rust tokenizer."""
        chars = set().union(*texts) if len(texts) > 1 else set(texts[0]) if texts else set()
        new = chars - self._checked
        if new:
            self._route_chars.update(ch for ch in new if not self._char_agrees(ch))
            self._checked.update(new)
        route = self._route_chars
        if route.isdisjoint(chars):
            ok = [True] * len(texts)
        else:
            ok = [route.isdisjoint(t) for t in texts]
        if not self.do_lower_case:
            is_nfc = unicodedata.is_normalized
            ok = [o and is_nfc("NFC", t) for o, t in zip(ok, texts)]
        return ok

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (no [CLS]/[SEP])."""
        if self.backend is not None and self.fast_ok([text])[0]:
            return self.backend.encode(text, add_special_tokens=False).tokens
        return [t for t, _, _ in self.reference.tokens(text)]

    def encode(self, texts: Sequence[str], with_offsets: bool) -> list[Encoded]:
        """``(ids, offsets)`` of each text without special tokens; offsets None unless asked."""
        if self.backend is None:
            return [self.reference.encode(t, with_offsets) for t in texts]
        if not texts:
            return []
        ok = self.fast_ok(texts)
        fast_idx = [i for i, o in enumerate(ok) if o]
        results: list = [None] * len(texts)
        if fast_idx:
            fast_texts = texts if len(fast_idx) == len(texts) else [texts[i] for i in fast_idx]
            encs = self._rust_encode(list(fast_texts), with_offsets)
            for i, e in zip(fast_idx, encs):
                results[i] = (e.ids, e.offsets if with_offsets else None)
        if len(fast_idx) != len(texts):
            for i, o in enumerate(ok):
                if not o:
                    results[i] = self.reference.encode(texts[i], with_offsets)
        return results

    def _rust_encode(self, texts: list[str], with_offsets: bool) -> list:
        backend = self.backend
        if len(texts) == 1:
            return [backend.encode(texts[0], add_special_tokens=False)]
        if with_offsets:
            return backend.encode_batch(texts, add_special_tokens=False)
        # encode_batch_fast (tokenizers >= 0.20) skips computing offsets
        return getattr(backend, "encode_batch_fast", backend.encode_batch)(texts, add_special_tokens=False)
