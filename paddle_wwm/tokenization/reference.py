"""The reference algorithm: Google BERT's basic tokenizer and WordPiece, in pure Python.

It is the readable definition of the semantics (ids equal transformers' slow ``BertTokenizer``
with ``tokenize_chinese_chars=True``, ``strip_accents=None``), written after the structure of
Google's ``tokenization.py``, and it also tracks, for every token, the character span of the
ORIGINAL text it came from: lower-casing, accent stripping, NFC, removed control characters and
collapsed whitespace all change lengths, so offsets cannot be recovered from the normalised string.
"""
from __future__ import annotations

import re
import unicodedata

from .chars import is_chinese_char, is_control, is_punctuation, is_whitespace
from .vocab import SPECIAL_TOKENS, UNK_TOKEN

MAX_INPUT_CHARS_PER_WORD = 100

# Kinds of the items one input character turns into (see BasicTokenizer.char_items).
ITEM_SEP = 0  # word separator (whitespace)
ITEM_SOLO = 1  # a word of its own: CJK character, or (uncased mode) punctuation
ITEM_CHAR = 2  # part of a word: (kind, char, canonical combining class, is non-spacing mark)
_SEPARATOR_ITEM = (ITEM_SEP, " ", 0, False)


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
    def char_items(self, ch: str) -> tuple:
        """What one input character becomes (cached): a tuple of items (kind, char, ccc, is_mn)."""
        items = self._cache.get(ch)
        if items is not None:
            return items
        out = []
        for c in (ch.lower() if self.do_lower_case else ch):  # "İ".lower() is two characters
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or is_control(c):
                continue
            if is_whitespace(c) or c.isspace():
                # U+2028/U+2029 survive the cleaning (not Zs) but the reference's final
                # str.split() splits on them (the vocabulary even has a "\u2028" token that
                # can therefore never be produced)
                out.append(_SEPARATOR_ITEM)
            elif is_chinese_char(cp):
                # normalised like the rest (compatibility ideographs map to unified ones)
                form = unicodedata.normalize("NFD" if self.do_lower_case else "NFC", c)
                out.append((ITEM_SOLO, form, 0, False))
            elif self.do_lower_case:
                # NFD character by character; canonical reordering across characters is done
                # per word in _flush (NFD(text) == reorder(concat(NFD(c)))).
                for d in unicodedata.normalize("NFD", c):
                    if is_punctuation(d):
                        out.append((ITEM_SOLO, d, 0, False))
                    else:
                        out.append((ITEM_CHAR, d, unicodedata.combining(d), unicodedata.category(d) == "Mn"))
            else:
                # cased: NFC and punctuation splitting happen per word in _flush, because NFC
                # can turn punctuation into a letter ("<" + U+0338 -> "≮").
                out.append((ITEM_CHAR, c, unicodedata.combining(c), False))
        items = tuple(out)
        self._cache[ch] = items
        return items

    # -- per word -------------------------------------------------------------------------------
    def _flush(self, chars: list, spans: list, out: list) -> None:
        """Finish one whitespace/CJK/punctuation-delimited run of ITEM_CHAR items into words."""
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
            if is_punctuation(c):
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
        char_items = self.char_items
        for i in range(begin, end):
            items = char_items(text[i])
            if not items:
                continue
            span = (i, i + 1)
            for item in items:
                kind = item[0]
                if kind == ITEM_CHAR:
                    chars.append(item)
                    spans.append(span)
                    continue
                if chars:
                    self._flush(chars, spans, out)
                    chars, spans = [], []
                if kind == ITEM_SOLO:
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



class ReferenceTokenizer:
    """Special-token splitting, :class:`BasicTokenizer` and :class:`WordpieceTokenizer` together:
    the whole pure-Python path from a text to ``(token, start, end)`` triples."""

    def __init__(self, vocab: dict[str, int], do_lower_case: bool = True):
        self.vocab = vocab
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab, UNK_TOKEN, MAX_INPUT_CHARS_PER_WORD)
        # The reference splits the special tokens out of the text before anything else
        # (case-sensitively; lower-casing never creates one), longest first.
        self._special_re = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)))

    def tokens(self, text: str) -> list[tuple[str, int, int]]:
        """(token, start, end) for every token of ``text``; start/end index ``text``."""
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

    def encode(self, text: str, with_offsets: bool) -> tuple[list[int], list | None]:
        """``(ids, offsets)`` of ``text`` without special tokens; offsets None unless asked."""
        toks = self.tokens(text)
        vocab = self.vocab
        ids = [vocab[t] for t, _, _ in toks]
        return ids, ([(a, b) for _, a, b in toks] if with_offsets else None)
