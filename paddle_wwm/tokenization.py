r"""WordPiece tokenizer of the Chinese BERT(-wwm) family, with Google BERT semantics.

The reference is the *slow* ``transformers.BertTokenizer`` (``do_lower_case=True``,
``tokenize_chinese_chars=True``, ``strip_accents=None``): every id this module produces must
equal what that tokenizer's ``encode`` produces.  Two implementations live here:

* a pure-Python one (:class:`BasicTokenizer` + :class:`WordpieceTokenizer`), written after the
  structure of Google's ``tokenization.py``.  It is the readable definition of the semantics
  and it also tracks, for every token, the character span of the ORIGINAL text it came from
  (lower-casing, accent stripping, NFC, removed control characters and collapsed whitespace
  all change lengths, so offsets cannot be recovered from the normalised string);
* a fast one through the Rust ``tokenizers`` library (``WordPiece`` + ``BertNormalizer`` +
  ``BertPreTokenizer``), used for every text it provably handles the same way.

Where the two disagree
----------------------
Comparing both on every code point (probe ``"a" + c + "b"``: words, tokens and offsets), on
random strings of troublesome characters and on the shipped corpora, with ``tokenizers`` 0.21
and Python 3.11 (Unicode 14), found these divergences of the plain Rust pipeline:

0. Literal special tokens: the reference splits ``[PAD] [UNK] [CLS] [SEP] [MASK]`` off the
   raw text first (case-sensitively), so ``"x[MASK]y"`` is ``x [MASK] y``; bare Rust gives
   ``x [ ma ##sk ] y``. Fixed, not routed: they are registered as special added tokens
   (``normalized=False``), after which both agree (also on ``"[mask]"``, ``"[MA\x00SK]"``).
1. Unassigned code points (category ``Cn``, about 830 000 of them, e.g. U+0378): the
   reference's ``_is_control`` (category ``C*``) drops them, Rust keeps them as letters.
   ``"a\u0378b"``: reference ``ab``, Rust ``[UNK]``.
2. Characters assigned after the Unicode version of Rust's tables (about 500): new
   punctuation is not split (U+2E5D OBLIQUE HYPHEN: ``"a\u2e5db"`` -> reference
   ``a [UNK] b``, Rust ``[UNK]``), new format characters are not removed (U+0890), new
   non-spacing marks are not stripped (U+0898), and re-categorised ones differ: U+166D
   (So now, punctuation to Rust), U+1734 (Mc now, Mn to Rust).
3. ``BertNormalizer``'s CJK ranges start Extension E at U+2B920 where Google's (and the
   reference's) start at U+2B820, so U+2B820..U+2B91F are not split off:
   ``"a\U0002b820b"``: reference ``a [UNK] b``, Rust one ``[UNK]``.
4. Lone surrogates (``"\ud800"``) cannot be passed to Rust at all (the reference drops them).
5. Offsets only: spacing marks with a non-zero combining class (U+302E, U+1D165, the 25
   of them and the characters decomposing to them) are reordered by NFD next to a stripped
   accent, and then Rust's offsets are off by one (``"e\u0301\u302e"``: Rust ``(0, 2)``,
   the token's last character comes from ``(2, 3)``).
6. Cased (``do_lower_case=False``) only: the reference NFC-normalises, Rust does not
   (``"e\u0301"``), and the reference keeps a special token that only appears once a
   control character is removed (``"[MASK\x00]"`` -> ``[MASK]``, Rust ``[ MASK ]``).

Not divergent (checked, so not special-cased): ``max_input_chars_per_word`` is counted in
characters of the normalised word by both (``"д" * 60`` is 120 bytes and is not ``[UNK]``;
``"e\u0301" * 100`` is 100 characters once stripped); U+2028/U+2029 (Rust: whitespace;
reference: kept by the cleaning but split by ``str.split``); U+000B/U+000C/U+0085/U+001C
(control, dropped by both); Greek capital sigma (the reference lower-cases one character at a
time, so never the final form, like Rust); ``"İ"`` (two characters lower-cased); NFD-expanding
characters, Hangul syllables, CJK compatibility ideographs; characters outside the BMP.

Rather than freezing a table that depends on the installed ``tokenizers`` and on Python's
Unicode version, :class:`BertTokenizer` checks each character the first time it meets it:
the probe ``"a" + c + "b"`` goes through both implementations and must give the same words,
tokens and offsets (plus the rules of 5 and 6, which a single character cannot show). A text
containing any character that fails goes to the pure-Python path (cased mode: also any text
that is not NFC); the others, all of the shipped corpora included, go to Rust. Per-character
checking suffices because the normalisation is character-wise; the context-dependent steps
(canonical reordering, NFC composition, WordPiece) behave alike for characters that pass.
"""
from __future__ import annotations

import contextlib
import gc
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "BasicTokenizer",
    "BertTokenizer",
    "VocabError",
    "WordpieceTokenizer",
    "DEFAULT_VOCAB_FILE",
    "load_vocab",
]

DEFAULT_VOCAB_FILE = Path(__file__).resolve().parent / "data" / "vocab.txt"

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN)
MAX_INPUT_CHARS_PER_WORD = 100

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING_STRATEGIES = ("max_length", "longest")


class VocabError(ValueError):
    """A vocabulary file that cannot be used (missing, empty or malformed)."""


def load_vocab(vocab_file: str | os.PathLike) -> dict[str, int]:
    """Read a BERT ``vocab.txt`` (one token a line, id = line number) and validate it."""
    path = Path(vocab_file)
    if not path.is_file():
        raise VocabError(f"vocab file {str(path)!r} does not exist or is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise VocabError(f"vocab file {str(path)!r} is not valid UTF-8: {e}") from None
    if text.startswith("\ufeff"):  # a BOM written by some editors is not part of token 0
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the usual trailing newline
        lines.pop()
    if not lines:
        raise VocabError(f"vocab file {str(path)!r} is empty")
    vocab: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line.rstrip("\r")
        if token == "":
            raise VocabError(f"vocab file {str(path)!r}: line {index + 1} is empty (every line must hold one token)")
        if token in vocab:
            raise VocabError(
                f"vocab file {str(path)!r}: duplicate token {token!r} on lines {vocab[token] + 1} and {index + 1}"
            )
        vocab[token] = index
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise VocabError(f"vocab file {str(path)!r} lacks the special token(s) {', '.join(missing)}")
    return vocab


# ---------------------------------------------------------------------------------------------
# Character classes: Google BERT's definitions, as in the reference (transformers' slow tokenizer)
# ---------------------------------------------------------------------------------------------

def _is_whitespace(ch: str) -> bool:
    """Space, tab, newline, carriage return and category Zs (becomes a plain space)."""
    if ch in " \t\n\r":
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    """Categories C* (Cc, Cf, Cn, Co, Cs), except tab/newline/CR which count as whitespace.

    Google's original only drops Cc/Cf; transformers drops all of C*, and it is the reference.
    """
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    """All non-letter/number ASCII (``$``, ``^``, ``` ` ``` are not P* in Unicode) plus P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    """CJK Unified Ideographs (and extensions A-F) plus the compatibility ideographs.

    Hangul, Hiragana and Katakana are NOT included: those scripts separate words with spaces.
    """
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


# Kinds of the items one input character turns into (see BasicTokenizer._char_items).
_SEP = 0  # word separator (whitespace)
_SOLO = 1  # a word of its own: CJK character, or (uncased mode) punctuation
_CHAR = 2  # part of a word: (kind, char, canonical combining class, is non-spacing mark)
_SEP_ITEM = (_SEP, " ", 0, False)


class BasicTokenizer:
    """Cleaning, lower-casing, accent stripping, CJK and punctuation splitting.

    ``words_with_offsets(text)`` returns ``(word, spans)`` pairs where ``spans[i]`` is the
    ``(start, end)`` range of ``text`` that character ``word[i]`` came from.  The steps and
    their order are those of the reference (transformers 4.x ``BertTokenizer``):

    1. lower-case each character on its own (the reference runs ``str.lower`` one character
       at a time through a regular expression, so Greek final sigma never appears);
    2. drop U+0000, U+FFFD and control characters, turn whitespace into spaces;
    3. put spaces around CJK characters;
    4. NFC, split on whitespace; uncased: NFD and drop non-spacing marks (Mn);
    5. split off every punctuation character.

    Special tokens in the text are handled by :class:`BertTokenizer`, not here.
    """

    def __init__(self, do_lower_case: bool = True):
        self.do_lower_case = do_lower_case
        self._cache: dict[str, tuple] = {}

    # -- per character ------------------------------------------------------------------------
    def _char_items(self, ch: str) -> tuple:
        """What one input character becomes (cached): a tuple of items (kind, char, ccc, is_mn)."""
        items = self._cache.get(ch)
        if items is not None:
            return items
        out = []
        for c in (ch.lower() if self.do_lower_case else ch):  # "İ".lower() is two characters
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c) or c.isspace():
                # U+2028/U+2029 survive the cleaning (not Zs) but the reference's final
                # str.split() splits on them (the vocabulary even has a "\u2028" token that
                # can therefore never be produced)
                out.append(_SEP_ITEM)
            elif _is_chinese_char(cp):
                # normalised like the rest (compatibility ideographs map to unified ones)
                form = unicodedata.normalize("NFD" if self.do_lower_case else "NFC", c)
                out.append((_SOLO, form, 0, False))
            elif self.do_lower_case:
                # NFD character by character; canonical reordering across characters is done
                # per word in _flush (NFD(text) == reorder(concat(NFD(c)))).
                for d in unicodedata.normalize("NFD", c):
                    if _is_punctuation(d):
                        out.append((_SOLO, d, 0, False))
                    else:
                        out.append((_CHAR, d, unicodedata.combining(d), unicodedata.category(d) == "Mn"))
            else:
                # cased: NFC and punctuation splitting happen per word in _flush, because NFC
                # can turn punctuation into a letter ("<" + U+0338 -> "≮").
                out.append((_CHAR, c, unicodedata.combining(c), False))
        items = tuple(out)
        self._cache[ch] = items
        return items

    # -- per word -------------------------------------------------------------------------------
    def _flush(self, chars: list, spans: list, out: list) -> None:
        """Finish one whitespace/CJK/punctuation-delimited run of _CHAR items into words."""
        if not chars:
            return
        if self.do_lower_case:
            if any(c[2] for c in chars):
                _canonical_reorder(chars, spans)
            keep = [i for i, c in enumerate(chars) if not c[3]]  # strip accents (Mn)
            if len(keep) != len(chars):
                chars = [chars[i] for i in keep]
                spans = [spans[i] for i in keep]
            if chars:
                out.append(("".join(c[1] for c in chars), spans))
            return
        word = "".join(c[1] for c in chars)
        word, spans = _nfc_with_spans(word, spans)
        if word in SPECIAL_TOKENS:
            # The reference never splits a whitespace-delimited special token. Literal ones
            # were split off the text before, so this only happens when the cleaning made one
            # ("[MASK\x00]" -> "[MASK]"); uncased, the text was lower-cased first, so never.
            out.append((word, spans))
            return
        # punctuation split on the NFC form
        start = 0
        for i, c in enumerate(word):
            if _is_punctuation(c):
                if i > start:
                    out.append((word[start:i], spans[start:i]))
                out.append((c, spans[i:i + 1]))
                start = i + 1
        if start < len(word):
            out.append((word[start:], spans[start:]))

    def words_with_offsets(self, text: str, begin: int = 0, end: int | None = None) -> list:
        """Words of ``text[begin:end]`` with the original span of each of their characters."""
        if end is None:
            end = len(text)
        out: list = []
        chars: list = []
        spans: list = []
        char_items = self._char_items
        for i in range(begin, end):
            items = char_items(text[i])
            if not items:
                continue
            span = (i, i + 1)
            for item in items:
                kind = item[0]
                if kind == _CHAR:
                    chars.append(item)
                    spans.append(span)
                    continue
                if chars:
                    self._flush(chars, spans, out)
                    chars, spans = [], []
                if kind == _SOLO:
                    out.append((item[1], [span] * len(item[1])))
        if chars:
            self._flush(chars, spans, out)
        return out

    def tokenize(self, text: str) -> list[str]:
        """Words of ``text`` (no WordPiece)."""
        return [w for w, _ in self.words_with_offsets(text)]


def _canonical_reorder(chars: list, spans: list) -> None:
    """Stable-sort every run of characters with non-zero combining class by that class
    (the canonical ordering step of NFD), keeping spans attached. In place."""
    n = len(chars)
    i = 0
    while i < n:
        if chars[i][2] == 0:
            i += 1
            continue
        j = i
        while j < n and chars[j][2] != 0:
            j += 1
        if j - i > 1:
            order = sorted(range(i, j), key=lambda k: chars[k][2])
            chars[i:j] = [chars[k] for k in order]
            spans[i:j] = [spans[k] for k in order]
        i = j


def _nfc_with_spans(word: str, spans: list) -> tuple[str, list]:
    """NFC of ``word``; a composed character gets the union of its sources' spans."""
    nfc = unicodedata.normalize("NFC", word)
    if nfc == word:
        return word, spans
    # Cut the word into the smallest pieces that normalise independently, then give every
    # character of a piece's NFC the span of the whole piece (composition is local).
    out_chars: list[str] = []
    out_spans: list = []
    a = 0
    n = len(word)
    while a < n:
        b = a + 1
        rest = unicodedata.normalize("NFC", word[a:])
        while b < n:
            if unicodedata.normalize("NFC", word[a:b]) + unicodedata.normalize("NFC", word[b:]) == rest:
                break
            b += 1
        piece = unicodedata.normalize("NFC", word[a:b])
        span = (spans[a][0], spans[b - 1][1])
        out_chars.append(piece)
        out_spans.extend([span] * len(piece))
        a = b
    return "".join(out_chars), out_spans


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece; continuation pieces carry ``##``."""

    def __init__(self, vocab: dict[str, int], unk_token: str = UNK_TOKEN,
                 max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # No vocabulary entry is longer than this, so longer candidates need not be tried.
        self._max_piece = max((len(t[2:]) if t.startswith("##") else len(t)) for t in vocab)
        self._cache: dict[str, tuple] = {}

    def pieces(self, word: str) -> tuple:
        """``((token, start, end), ...)`` with character positions inside ``word`` (cached)."""
        got = self._cache.get(word)
        if got is not None:
            return got
        n = len(word)
        if n > self.max_input_chars_per_word:
            result = ((self.unk_token, 0, n),)
        else:
            vocab = self.vocab
            out = []
            start = 0
            while start < n:
                end = min(n, start + self._max_piece)
                match = None
                while start < end:
                    sub = word[start:end] if start == 0 else "##" + word[start:end]
                    if sub in vocab:
                        match = sub
                        break
                    end -= 1
                if match is None:  # one unmatched piece makes the whole word unknown
                    out = [(self.unk_token, 0, n)]
                    break
                out.append((match, start, end))
                start = end
            result = tuple(out)
        if len(self._cache) < 200_000:
            self._cache[word] = result
        return result

    def tokenize(self, word: str) -> list[str]:
        return [p[0] for p in self.pieces(word)]


# ---------------------------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------------------------

class BertTokenizer:
    """Chinese BERT(-wwm) tokenizer; ids equal transformers' slow ``BertTokenizer``.

    Args:
        vocab_file: path of ``vocab.txt``; default: the vocabulary shipped with paddle_wwm.
        do_lower_case: lower-case and strip accents (all Chinese BERT-wwm models: True).
        max_len: default ``max_seq_len`` of :meth:`encode` / :meth:`__call__`.
        use_fast: encode through the Rust ``tokenizers`` library where it is exact
            (the default); False forces the pure-Python implementation everywhere.
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
        if not isinstance(max_len, int) or max_len < 2:
            raise ValueError(f"max_len must be an int >= 2, got {max_len!r}")
        self.max_len = max_len
        self.basic_tokenizer = BasicTokenizer(do_lower_case=self.do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(self._vocab, UNK_TOKEN, MAX_INPUT_CHARS_PER_WORD)
        # The reference splits the special tokens out of the text before anything else
        # (case-sensitively; lower-casing never creates one), longest first.
        self._special_re = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)))
        self._backend = _build_backend(self._vocab, self.do_lower_case) if use_fast else None
        # Routing state of the fast path: characters checked so far, and those that send a
        # text to the pure-Python path.
        self._checked: set[str] = set()
        self._route_chars: set[str] = set()

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, **kwargs) -> "BertTokenizer":
        """Tokenizer from a directory holding ``vocab.txt`` (or a path to the file itself);
        ``None`` gives the shipped vocabulary."""
        if path is None:
            return cls(None, **kwargs)
        p = Path(path)
        if p.is_dir():
            vocab_file = p / "vocab.txt"
            if not vocab_file.is_file():
                raise VocabError(f"directory {str(p)!r} has no vocab.txt")
            return cls(vocab_file, **kwargs)
        if p.is_file():
            return cls(p, **kwargs)
        raise VocabError(f"{str(p)!r} is neither a directory with a vocab.txt nor a vocab file")

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

    @property
    def pad_token_id(self) -> int:
        return self._vocab[PAD_TOKEN]

    @property
    def unk_token_id(self) -> int:
        return self._vocab[UNK_TOKEN]

    @property
    def cls_token_id(self) -> int:
        return self._vocab[CLS_TOKEN]

    @property
    def sep_token_id(self) -> int:
        return self._vocab[SEP_TOKEN]

    @property
    def mask_token_id(self) -> int:
        return self._vocab[MASK_TOKEN]

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
        for every input (see the module docstring)."""
        return self._backend

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

    # -- tokenization -----------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (no [CLS]/[SEP])."""
        _check_text(text, "text")
        if self._backend is not None and self._fast_ok([text])[0]:
            return self._backend.encode(text, add_special_tokens=False).tokens
        return [t for t, _, _ in self._pure_tokens(text)]

    def _pure_tokens(self, text: str) -> list[tuple[str, int, int]]:
        """(token, start, end) for every token of ``text``: the pure-Python reference path."""
        out: list[tuple[str, int, int]] = []
        pieces = self.wordpiece_tokenizer.pieces
        words_with_offsets = self.basic_tokenizer.words_with_offsets
        pos = 0
        for m in [*self._special_re.finditer(text), None]:
            seg_end = m.start() if m is not None else len(text)
            if seg_end > pos:
                for word, spans in words_with_offsets(text, pos, seg_end):
                    for tok, a, b in pieces(word):
                        out.append((tok, spans[a][0], spans[b - 1][1]))
            if m is not None:
                out.append((m.group(), m.start(), m.end()))
                pos = m.end()
        return out

    def _pure_encode(self, text: str, with_offsets: bool) -> tuple[list[int], list | None]:
        toks = self._pure_tokens(text)
        vocab = self._vocab
        ids = [vocab[t] for t, _, _ in toks]
        return ids, ([(a, b) for _, a, b in toks] if with_offsets else None)

    # -- fast-path routing --------------------------------------------------------------------
    def _check_chars(self, chars: set[str]) -> None:
        """Probe characters not seen before against both implementations (module docstring)."""
        backend = self._backend
        normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
        new_route = []
        for ch in chars:
            if 0xD800 <= ord(ch) <= 0xDFFF:
                new_route.append(ch)  # lone surrogate: cannot be passed to Rust
                continue
            probe = "a" + ch + "b"
            pure = self._pure_tokens(probe)
            pure_words = [w for w, _ in self.basic_tokenizer.words_with_offsets(probe)]
            rust_words = [w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(probe))]
            enc = backend.encode(probe, add_special_tokens=False)
            ok = (
                rust_words == pure_words
                and enc.tokens == [t for t, _, _ in pure]
                and [tuple(o) for o in enc.offsets] == [(a, b) for _, a, b in pure]
            )
            if ok and any(it[0] == _CHAR and it[2] and unicodedata.category(it[1]) != "Mn"
                          for it in self.basic_tokenizer._char_items(ch)):
                # Spacing marks with a non-zero combining class (U+302E, U+1D165, ...; 25 in
                # Unicode 14): ids agree, but after canonical reordering next to a stripped
                # accent Rust's offsets are off by one ("e\u0301\u302e" is one [UNK]: Rust
                # says (0, 2), but its last character "\u302e" comes from (2, 3)). The
                # single-character probe cannot see it.
                ok = False
            if ok and not self.do_lower_case:
                # Cased mode: the reference NFC-normalises after the cleaning, the Rust
                # normaliser never does; texts with characters that the cleaning removes
                # (which may make a composition or a literal "[MASK]" appear) go to Python,
                # and so do texts that are not NFC (checked per text in _fast_ok).
                ok = bool(self.basic_tokenizer._char_items(ch))
            if not ok:
                new_route.append(ch)
        self._checked.update(chars)
        self._route_chars.update(new_route)

    def _fast_ok(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text may go through the Rust tokenizer."""
        chars = set().union(*texts) if len(texts) > 1 else set(texts[0]) if texts else set()
        new = chars - self._checked
        if new:
            self._check_chars(new)
        route = self._route_chars
        if route.isdisjoint(chars):
            ok = [True] * len(texts)
        else:
            ok = [route.isdisjoint(t) for t in texts]
        if not self.do_lower_case:
            is_nfc = unicodedata.is_normalized
            ok = [o and is_nfc("NFC", t) for o, t in zip(ok, texts)]
        return ok

    def _encode_texts(self, texts: Sequence[str], with_offsets: bool) -> list[tuple[list[int], list | None]]:
        """Token ids (and offsets) of each text, without special tokens."""
        if self._backend is None:
            return [self._pure_encode(t, with_offsets) for t in texts]
        if not texts:
            return []
        ok = self._fast_ok(texts)
        fast_idx = [i for i, o in enumerate(ok) if o]
        results: list = [None] * len(texts)
        if fast_idx:
            fast_texts = texts if len(fast_idx) == len(texts) else [texts[i] for i in fast_idx]
            if len(fast_texts) == 1:
                encs = [self._backend.encode(fast_texts[0], add_special_tokens=False)]
            elif with_offsets or not hasattr(self._backend, "encode_batch_fast"):
                encs = self._backend.encode_batch(list(fast_texts), add_special_tokens=False)
            else:  # skips computing offsets
                encs = self._backend.encode_batch_fast(list(fast_texts), add_special_tokens=False)
            if with_offsets:
                for i, e in zip(fast_idx, encs):
                    results[i] = (e.ids, e.offsets)
            else:
                for i, e in zip(fast_idx, encs):
                    results[i] = (e.ids, None)
        if len(fast_idx) != len(texts):
            for i, o in enumerate(ok):
                if not o:
                    results[i] = self._pure_encode(texts[i], with_offsets)
        return results

    def encode_plain(self, texts: Sequence[str], return_offsets: bool = False) -> list[tuple[list[int], list | None]]:
        """``(ids, offsets)`` of each text without special tokens, truncation or padding.

        The bulk path for corpus preparation: one call per batch of sentences, offsets (when
        asked) are ``(start, end)`` character spans of the original text, else None.
        """
        return self._encode_texts(list(texts), return_offsets)

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, text: str, text_pair: str | None = None, max_seq_len: int | None = None,
               truncation: str | bool = "longest_first", padding: str | bool = False,
               return_offsets: bool = False, add_special_tokens: bool = True) -> dict:
        """Encode one text (or pair) as ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``.

        Args:
            max_seq_len: length limit including special tokens; None: ``self.max_len``.
            truncation: "longest_first" (remove one token at a time from the longer sequence),
                "only_first", "only_second", True (= "longest_first"), or False: an input
                longer than ``max_seq_len`` raises ``ValueError``.
            padding: False, "max_length" (pad to ``max_seq_len``) or "longest"/True (no-op
                for one sequence).
            return_offsets: add ``offset_mapping``: ``(start, end)`` character offsets into the
                original text (or pair text) of each token, ``(0, 0)`` for special/pad tokens.

        Returns: dict with ``input_ids``, ``token_type_ids``, ``attention_mask``
            (and ``offset_mapping``), each a list.
        """
        _check_text(text, "text")
        if text_pair is not None:
            _check_text(text_pair, "text_pair")
        opts = self._options(max_seq_len, truncation, padding)
        texts = [text] if text_pair is None else [text, text_pair]
        encoded = self._encode_texts(texts, return_offsets)
        first = encoded[0]
        second = encoded[1] if text_pair is not None else None
        out = self._assemble(first, second, opts, return_offsets, add_special_tokens)
        if opts[2] == "max_length":
            _pad([out], opts[0], self.pad_token_id, return_offsets)
        return out

    def __call__(self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None,
                 max_seq_len: int | None = None, truncation: str | bool = "longest_first",
                 padding: str | bool = False, return_offsets: bool = False,
                 return_tensors: str | None = None, add_special_tokens: bool = True) -> dict:
        """Batch encoding (through the Rust tokenizer where exact); options as :meth:`encode`.

        ``padding="longest"`` pads to the longest sequence of the batch.
        ``return_tensors``: None (lists), "np" (int64 numpy arrays) or "pd" (paddle tensors);
        tensors need sequences of equal length (use padding). A single ``str`` gives the result
        of :meth:`encode` (with a batch dimension of 1 when tensors are asked for).
        """
        single = isinstance(texts, str)
        if single:
            texts = [texts]
            if text_pairs is not None:
                if not isinstance(text_pairs, str):
                    raise TypeError("text_pairs must be a str when texts is a str")
                text_pairs = [text_pairs]
        else:
            texts = list(texts)
            for i, t in enumerate(texts):
                _check_text(t, f"texts[{i}]")
        if text_pairs is not None:
            if isinstance(text_pairs, str):
                raise TypeError("text_pairs must be a list of str when texts is a list")
            text_pairs = list(text_pairs)
            if len(text_pairs) != len(texts):
                raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs")
            for i, t in enumerate(text_pairs):
                _check_text(t, f"text_pairs[{i}]")
        if return_tensors not in (None, "np", "pd"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {return_tensors!r}")
        opts = self._options(max_seq_len, truncation, padding)
        all_texts = texts if text_pairs is None else texts + text_pairs
        with _gc_paused():
            encoded = self._encode_texts(all_texts, return_offsets)
            n = len(texts)
            outs = []
            for i in range(n):
                second = encoded[n + i] if text_pairs is not None else None
                try:
                    outs.append(self._assemble(encoded[i], second, opts, return_offsets, add_special_tokens))
                except ValueError as e:
                    raise ValueError(f"batch item {i}: {e}") from None
        if opts[2] == "max_length":
            _pad(outs, opts[0], self.pad_token_id, return_offsets)
        elif opts[2] == "longest" and outs:
            _pad(outs, max(len(o["input_ids"]) for o in outs), self.pad_token_id, return_offsets)
        keys = list(outs[0]) if outs else ["input_ids", "token_type_ids", "attention_mask"] + (
            ["offset_mapping"] if return_offsets else [])
        result = {k: [o[k] for o in outs] for k in keys}
        if single and return_tensors is None:
            return {k: v[0] for k, v in result.items()}
        if return_tensors is not None:
            result = _to_tensors(result, return_tensors)
        return result

    # -- helpers ------------------------------------------------------------------------------
    def _options(self, max_seq_len, truncation, padding) -> tuple:
        if max_seq_len is None:
            max_seq_len = self.max_len
        if not isinstance(max_seq_len, int) or isinstance(max_seq_len, bool) or max_seq_len < 0:
            raise ValueError(f"max_seq_len must be a non-negative int, got {max_seq_len!r}")
        if truncation is True:
            truncation = "longest_first"
        elif truncation is None or truncation is False or truncation == "do_not_truncate":
            truncation = False
        elif truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation must be one of {TRUNCATION_STRATEGIES} or True/False, got {truncation!r}")
        if padding is True:
            padding = "longest"
        elif padding is None or padding is False or padding == "do_not_pad":
            padding = False
        elif padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding must be one of {PADDING_STRATEGIES} or True/False, got {padding!r}")
        return max_seq_len, truncation, padding

    def _assemble(self, first, second, opts, with_offsets: bool, add_special_tokens: bool) -> dict:
        max_seq_len, truncation, _ = opts
        ids_a, off_a = first
        ids_b, off_b = second if second is not None else (None, None)
        n_special = (3 if ids_b is not None else 2) if add_special_tokens else 0
        total = len(ids_a) + (len(ids_b) if ids_b is not None else 0) + n_special
        if total > max_seq_len:
            len_a, len_b = _truncated_lengths(len(ids_a), None if ids_b is None else len(ids_b),
                                              total - max_seq_len, truncation, max_seq_len)
            ids_a = ids_a[:len_a]
            off_a = off_a[:len_a] if off_a is not None else None
            if ids_b is not None:
                ids_b = ids_b[:len_b]
                off_b = off_b[:len_b] if off_b is not None else None
        if add_special_tokens:
            cls_id, sep_id = self.cls_token_id, self.sep_token_id
            input_ids = [cls_id, *ids_a, sep_id]
            type_ids = [0] * len(input_ids)
            if ids_b is not None:
                input_ids += [*ids_b, sep_id]
                type_ids += [1] * (len(ids_b) + 1)
        else:
            input_ids = list(ids_a) + (list(ids_b) if ids_b is not None else [])
            type_ids = [0] * len(ids_a) + ([1] * len(ids_b) if ids_b is not None else [])
        out = {"input_ids": input_ids, "token_type_ids": type_ids, "attention_mask": [1] * len(input_ids)}
        if with_offsets:
            z = (0, 0)
            offs = [tuple(o) for o in off_a]
            if add_special_tokens:
                offs = [z, *offs, z]
            if ids_b is not None:
                offs += [tuple(o) for o in off_b]
                if add_special_tokens:
                    offs.append(z)
            out["offset_mapping"] = offs
        return out


def _truncated_lengths(len_a: int, len_b: int | None, remove: int, truncation, max_seq_len: int):
    """Lengths after transformers' (slow) truncation; impossible requests raise ValueError."""
    if truncation is False:
        raise ValueError(
            f"input of {max_seq_len + remove} tokens (special tokens included) is longer than "
            f"max_seq_len={max_seq_len}; pass truncation='longest_first' (or 'only_first'/"
            f"'only_second') or a larger max_seq_len"
        )
    if truncation == "only_second" and len_b is None:
        raise ValueError(
            f"input of {max_seq_len + remove} tokens exceeds max_seq_len={max_seq_len} and "
            f"truncation='only_second' needs a text pair"
        )
    if truncation == "only_first" or (truncation == "longest_first" and len_b is None):
        if len_a <= remove:
            raise ValueError(
                f"cannot truncate to max_seq_len={max_seq_len}: {remove} tokens must go but the "
                f"first sequence has only {len_a}"
                + ("; use truncation='longest_first'" if truncation == "only_first" and len_b else "")
            )
        return len_a - remove, len_b
    if truncation == "only_second":
        if len_b <= remove:
            raise ValueError(
                f"cannot truncate to max_seq_len={max_seq_len}: {remove} tokens must go but the "
                f"second sequence has only {len_b}; use truncation='longest_first'"
            )
        return len_a, len_b - remove
    # longest_first with a pair: remove one token at a time from the longer sequence (the
    # second one on ties), exactly like transformers' slow tokenizer, in closed form.
    if len_a + len_b < remove:
        raise ValueError(
            f"cannot truncate to max_seq_len={max_seq_len}: it leaves no room for the special tokens"
        )
    a, b = len_a, len_b
    r = remove
    if a > b:
        step = min(r, a - b)
        a -= step
        r -= step
    elif b > a:
        step = min(r, b - a)
        b -= step
        r -= step
    # now a == b (or r == 0): alternate, second first on ties
    b -= (r + 1) // 2
    a -= r // 2
    return a, b


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a batch builds its many small lists: they hold
    no cycles, yet every few hundred allocations would trigger a collection that scans all of
    them again (a third of the batch time on the shipped corpus). Reference counting still
    frees everything; the previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _pad(outs: list[dict], length: int, pad_id: int, with_offsets: bool) -> None:
    for o in outs:
        n = length - len(o["input_ids"])
        if n <= 0:
            continue
        o["input_ids"] += [pad_id] * n
        o["token_type_ids"] += [0] * n
        o["attention_mask"] += [0] * n
        if with_offsets:
            o["offset_mapping"] += [(0, 0)] * n


def _to_tensors(result: dict, kind: str) -> dict:
    import numpy as np

    arrays = {}
    for k, v in result.items():
        lengths = {len(x) for x in v}
        if len(lengths) > 1:
            raise ValueError(
                f"return_tensors={kind!r} needs sequences of one length but {k} has lengths "
                f"{min(lengths)}..{max(lengths)}; pass padding='longest' or 'max_length'"
            )
        if k == "offset_mapping":
            arr = np.asarray(v, dtype=np.int64).reshape(len(v), lengths.pop() if lengths else 0, 2)
        else:
            arr = np.asarray(v, dtype=np.int64).reshape(len(v), lengths.pop() if lengths else 0)
        arrays[k] = arr
    if kind == "pd":
        import paddle

        return {k: paddle.to_tensor(a) for k, a in arrays.items()}
    return arrays


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


def _build_backend(vocab: dict[str, int], do_lower_case: bool):
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
    # Literal special tokens in the text stay whole, as in the reference: matched on the raw
    # text (normalized=False), case-sensitively.
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL_TOKENS])
    return tok
