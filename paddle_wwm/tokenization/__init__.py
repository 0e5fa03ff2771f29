"""WordPiece tokenizer of the Chinese BERT(-wwm) family, with Google BERT semantics.

The reference is the *slow* ``transformers.BertTokenizer`` (``do_lower_case=True``,
``tokenize_chinese_chars=True``, ``strip_accents=None``): every id produced here equals what that
tokenizer's ``encode`` produces. Modules:

* :mod:`.reference`: the algorithm in pure Python (Google BERT's basic tokenizer + WordPiece),
  with the source span of every token;
* :mod:`.routing`: the Rust ``tokenizers`` fast path, used for every text it handles the same way;
* :mod:`.tokenizer`: :class:`BertTokenizer`, the public API (PaddleNLP's and transformers'
  keywords, :class:`~.options.EncodingOptions`), and :mod:`.pretrained` for its directories.

Nothing here imports paddle (only ``return_tensors="pd"`` does, when called).
"""
from .chars import is_chinese_char
from .options import EncodingOptions
from .reference import BasicTokenizer, WordpieceTokenizer
from .tokenizer import BertTokenizer
from .vocab import DEFAULT_VOCAB_FILE, SPECIAL_TOKENS, VocabError, load_vocab

__all__ = [
    "DEFAULT_VOCAB_FILE",
    "SPECIAL_TOKENS",
    "BasicTokenizer",
    "BertTokenizer",
    "EncodingOptions",
    "VocabError",
    "WordpieceTokenizer",
    "is_chinese_char",
    "load_vocab",
]
