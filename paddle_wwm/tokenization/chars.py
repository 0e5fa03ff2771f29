"""Character classes of Google BERT's tokenizer, as the reference (transformers' slow
``BertTokenizer``) defines them. They follow the Unicode tables of the running Python."""
from __future__ import annotations

import unicodedata


def is_whitespace(ch: str) -> bool:
    """Space, tab, newline, carriage return and category Zs (becomes a plain space)."""
    if ch in " \t\n\r":
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """Categories C* (Cc, Cf, Cn, Co, Cs), except tab/newline/CR which count as whitespace.

    Google's original only drops Cc/Cf; transformers drops all of C*, and it is the reference.
    """
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """All non-letter/number ASCII (``$``, ``^``, ``` ` ``` are not P* in Unicode) plus P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp: int) -> bool:
    """Whether code point ``cp`` is a CJK ideograph: CJK Unified Ideographs (and extensions A-F)
    plus the compatibility ideographs, Google BERT's ranges.

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
