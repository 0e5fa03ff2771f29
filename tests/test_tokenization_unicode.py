"""Where the plain Rust pipeline (tokenizers' WordPiece + BertNormalizer + BertPreTokenizer) and the
reference (transformers' slow BertTokenizer, Python's Unicode tables) disagree, and where they do
not. These facts are why paddle_wwm.tokenization.routing probes characters before using Rust
(docs/tokenization.md); they were found with tokenizers 0.21 and Python 3.11 (Unicode 14): a
failure here after an upgrade means the catalogue changed, not necessarily that ids did.
"""
from __future__ import annotations

import functools

import pytest
import transformers

from paddle_wwm.tokenization import DEFAULT_VOCAB_FILE, BertTokenizer
from paddle_wwm.tokenization.routing import build_backend
from paddle_wwm.tokenization.vocab import load_vocab


@functools.cache
def _reference(do_lower_case: bool):
    return transformers.BertTokenizer(vocab_file=str(DEFAULT_VOCAB_FILE), do_lower_case=do_lower_case)


@pytest.fixture
def hf():
    return _reference(True)


@pytest.fixture
def hf_cased():
    return _reference(False)


@pytest.fixture(scope="module")
def rust():
    """The raw fast path, without the routing."""
    return BertTokenizer().backend_tokenizer


def _rust_tokens(backend, text):
    return backend.encode(text, add_special_tokens=False).tokens


def test_literal_special_tokens_need_added_tokens(hf, rust):
    """The reference splits [MASK] etc. off the raw text first; bare Rust would WordPiece them.
    Registering them as special added tokens (normalized=False) makes both agree."""
    from tokenizers import Tokenizer

    full = build_backend(load_vocab(DEFAULT_VOCAB_FILE), do_lower_case=True)
    bare = Tokenizer(full.model)  # the same pipeline without the added special tokens
    bare.normalizer, bare.pre_tokenizer = full.normalizer, full.pre_tokenizer
    assert _rust_tokens(bare, "x[MASK]y") == ["x", "[", "ma", "##sk", "]", "y"]
    assert hf.tokenize("x[MASK]y") == ["x", "[MASK]", "y"] == _rust_tokens(rust, "x[MASK]y")
    for text in ("[mask]", "[MA\x00SK]"):
        assert _rust_tokens(rust, text) == hf.tokenize(text)


@pytest.mark.parametrize("text,reference,raw_rust", [
    # unassigned code points (Cn, ~830 000 of them): the reference's control test (C*) drops them
    ("a\u0378b", ["ab"], ["[UNK]"]),
    # assigned after the Unicode version of Rust's tables: new punctuation is not split (U+2E5D
    # OBLIQUE HYPHEN), a new format character is not removed (U+0890), a new non-spacing mark is
    # not stripped (U+0898); re-categorised: U+166D (So now, punctuation to Rust), U+1734 (Mc now,
    # Mn to Rust)
    ("a\u2e5db", ["a", "[UNK]", "b"], ["[UNK]"]),
    ("a\u0890b", ["ab"], ["[UNK]"]),
    ("a\u0898b", ["ab"], ["[UNK]"]),
    ("a\u166db", ["[UNK]"], ["a", "[UNK]", "b"]),
    ("a\u1734b", ["[UNK]"], ["ab"]),
    # BertNormalizer starts CJK Extension E at U+2B920, Google (and the reference) at U+2B820
    ("a\U0002b820b", ["a", "[UNK]", "b"], ["[UNK]"]),
])
def test_rust_unicode_tables_differ(hf, rust, text, reference, raw_rust):
    assert hf.tokenize(text) == reference
    assert _rust_tokens(rust, text) == raw_rust
    assert BertTokenizer().tokenize(text) == reference  # routed to the reference


def test_lone_surrogates_cannot_reach_rust(hf, rust):
    assert hf.tokenize("a\ud800b") == ["ab"]  # dropped by the reference (category Cs)
    with pytest.raises(TypeError):
        rust.encode("a\ud800b", add_special_tokens=False)


def test_spacing_marks_with_a_combining_class_shift_rust_offsets(hf, rust):
    """U+302E (and the other spacing marks with a non-zero combining class) are reordered by NFD
    next to a stripped accent; Rust's offsets then miss the last character. Ids agree."""
    text = "e\u0301\u302e"
    assert _rust_tokens(rust, text) == hf.tokenize(text) == ["[UNK]"]
    assert rust.encode(text, add_special_tokens=False).offsets == [(0, 2)]
    assert BertTokenizer().encode(text, add_special_tokens=False, return_offsets=True)["offset_mapping"] == [(0, 3)]


def test_cased_mode_differences(hf_cased):
    """Cased only: the reference NFC-normalises, Rust does not; and the reference keeps a special
    token that appears once a control character is removed."""
    rust = BertTokenizer(do_lower_case=False).backend_tokenizer
    # "<" + U+0338 composes to "≮" (one unknown word) in the reference; Rust splits off the "<"
    assert hf_cased.tokenize("a<\u0338b") == ["[UNK]"] == hf_cased.tokenize("a\u226eb")
    assert _rust_tokens(rust, "a<\u0338b") == ["a", "<", "[UNK]"]
    assert BertTokenizer(do_lower_case=False).tokenize("a<\u0338b") == ["[UNK]"]
    assert hf_cased.tokenize("[MASK\x00]") == ["[MASK]"]
    assert _rust_tokens(rust, "[MASK\x00]") == ["[", "[UNK]", "]"]


@pytest.mark.parametrize("text", [
    "д" * 60,  # max_input_chars_per_word counts characters of the normalised word, not bytes
    "e\u0301" * 100,  # 200 characters, 100 once the accents are stripped: not [UNK] in either
    "a\u2028b\u2029c",  # Rust: whitespace; the reference keeps them through the cleaning but splits
    "a\x0bb\x0cc\x85d\x1ce",  # control characters, dropped by both
    "ΣΑΣ",  # lower-cased one character at a time: never the final sigma, in either
    "İstanbul",  # "İ" lower-cases to two characters
    "\uf900\U0002f800한글\U00020000😀",  # compatibility ideographs, Hangul, outside the BMP
])
def test_rust_agrees(hf, rust, text):
    assert _rust_tokens(rust, text) == hf.tokenize(text)
    assert BertTokenizer()._router.fast_ok([text]) == [True]
