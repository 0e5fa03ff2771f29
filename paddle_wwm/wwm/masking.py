"""Whole-word masking of a batch, vectorised, and deterministic per instance.

The rule is Google's ``create_masked_lm_predictions`` with whole words (and what Hugging Face's
``DataCollatorForWholeWordMask`` does): ``num_to_predict = min(max_predictions, max(1,
round(n * mask_prob)))`` where ``n`` counts the sequence's tokens including ``[CLS]``/``[SEP]``;
words are visited in random order and a word is taken whole when it still fits
(``chosen + len(word) <= num_to_predict``), else skipped for a shorter one; each chosen token then
becomes ``[MASK]`` (80%), a random token (10%) or stays unchanged (10%). Special tokens and
padding are never chosen.

Both references draw from one sequential random stream, which ties a sequence's masks to its
place in the stream and costs a Python loop per token (HF's collator: about 7,000 sequences/s).
Here every random number is a counter-based hash of ``(seed, mask_round, instance_id,
position)``, so a sequence gets the same masks whatever batch, rank or worker it lands in (what
exact resume and data-parallel equivalence need), and the whole batch is masked with a few
numpy passes. ``mask_round`` is the epoch for dynamic masking, ``epoch % dupe_factor`` for
static masking: the same code, another seed schedule (see :mod:`paddle_wwm.wwm.dataset`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = -100  # masked_labels of padded prediction slots (paddle's cross_entropy ignore_index)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective avalanche of uint64 values (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def instance_keys(seed: int, mask_rounds, instance_ids) -> np.ndarray:
    """One uint64 key per sequence from (seed, round, instance id); rounds scalar or per row."""
    rounds = np.asarray(mask_rounds, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    with np.errstate(over="ignore"):
        base = mix64(np.uint64((seed & 0xFFFFFFFF) << 32) | rounds)
        return mix64(base ^ mix64(np.asarray(instance_ids, dtype=np.uint64) * _GOLDEN + _GOLDEN))


@dataclass(frozen=True)
class MaskingConfig:
    mask_prob: float = 0.15
    max_predictions: int = 20
    mask_token_id: int = 103
    replace_prob: float = 0.8  # -> [MASK]
    random_prob: float = 0.1  # -> random token; the rest stays unchanged

    def __post_init__(self):
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.max_predictions < 1:
            raise ValueError(f"max_predictions must be >= 1, got {self.max_predictions}")
        if self.replace_prob < 0 or self.random_prob < 0 or self.replace_prob + self.random_prob > 1:
            raise ValueError(f"replace_prob + random_prob must lie in [0, 1], got "
                             f"{self.replace_prob} + {self.random_prob}")


def default_max_predictions(max_seq_len: int, mask_prob: float = 0.15) -> int:
    """Google's settings: 20 at 128, 80 at 512 (as the seed used); proportional in between."""
    return {128: 20, 512: 80}.get(max_seq_len, max(1, int(round(max_seq_len * mask_prob))))


def whole_word_mask(input_ids: np.ndarray, word_starts: np.ndarray, maskable: np.ndarray,
                    lengths: np.ndarray, instance_ids: np.ndarray, *, seed: int, mask_round,
                    config: MaskingConfig, random_token_ids: np.ndarray) -> dict:
    """Mask a padded batch.

    Args:
        input_ids: [B, L] token ids (padded).
        word_starts: [B, L] bool, True where a token begins a word.
        maskable: [B, L] bool, False for special tokens and padding.
        lengths: [B] number of real tokens (specials included, padding excluded).
        instance_ids: [B] stable ids of the sequences (with seed/round they fix the masks).
        mask_round: the masking round, one for the batch or [B].
        random_token_ids: candidate ids for the 10% random replacement (no special tokens).

    Returns dict of numpy arrays: ``input_ids`` [B, L] (masked copy), ``masked_positions`` [B, P]
    (ascending, padded with 0), ``masked_labels`` [B, P] (original ids, padded with
    ``IGNORE_INDEX``), ``masked_counts`` [B]; ``P = config.max_predictions``.
    """
    batch, length = input_ids.shape
    keys = instance_keys(seed, mask_round, instance_ids)

    def random_bits(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The hash of (row key, position) at the given tokens only."""
        with np.errstate(over="ignore"):
            return mix64(keys[rows] + (cols.astype(np.uint64) + np.uint64(1)) * _GOLDEN)

    # Words: a maskable token starts one when flagged, or when the token before is not maskable.
    # Work on the flattened batch with one extra column that closes every row.
    maskable_x = np.zeros((batch, length + 1), dtype=bool)
    maskable_x[:, :length] = maskable
    starts_x = np.zeros_like(maskable_x)
    starts_x[:, :length] = word_starts & maskable
    starts_x[:, 1:] |= maskable_x[:, 1:] & ~maskable_x[:, :-1]
    starts_x[:, 0] |= maskable_x[:, 0]
    boundaries = np.flatnonzero(starts_x | ~maskable_x)  # row-major, so sorted
    is_start = starts_x.ravel()[boundaries[:-1]]
    word_flat = boundaries[:-1][is_start]  # flat index (row * (length + 1) + col) of each word
    word_length = (boundaries[1:] - boundaries[:-1])[is_start]  # next boundary is in the same row
    word_row, word_col = np.divmod(word_flat, length + 1)

    # Visit each row's words in random order: one flat sort of (row, random key, word index)
    # packed in 64 bits (sorting values is faster than argsort; ties go by word index).
    n_words = len(word_flat)
    if batch >= 1 << 16 or n_words >= 1 << 24:
        raise ValueError(f"batch too large to mask at once ({batch} rows, {n_words} words)")
    random_key = random_bits(word_row, word_col) >> np.uint64(40)  # 24 bits
    packed = ((word_row.astype(np.uint64) << np.uint64(48)) | (random_key << np.uint64(24))
              | np.arange(n_words, dtype=np.uint64))
    order = (np.sort(packed) & np.uint64((1 << 24) - 1)).astype(np.int64)
    word_row, word_col, word_length = word_row[order], word_col[order], word_length[order]
    words_per_row = np.bincount(word_row, minlength=batch)
    rank = np.arange(len(word_row)) - (np.cumsum(words_per_row) - words_per_row)[word_row]
    max_words = int(words_per_row.max(initial=0))
    ordered_length = np.zeros((batch, max_words), dtype=np.int64)
    ordered_length[word_row, rank] = word_length

    target = np.minimum(config.max_predictions,
                        np.maximum(1, np.round(lengths * config.mask_prob).astype(np.int64)))
    chosen_total = np.zeros(batch, dtype=np.int64)
    accepted = np.zeros((batch, max_words), dtype=bool)
    for r in range(max_words):  # the greedy "take the word if it still fits", one rank at a time
        fits = (ordered_length[:, r] > 0) & (chosen_total + ordered_length[:, r] <= target)
        accepted[:, r] = fits
        chosen_total += np.where(fits, ordered_length[:, r], 0)
        if r % 8 == 7 and (chosen_total >= target).all():
            break
    take = accepted[word_row, rank]
    # Expand the accepted words into their tokens, in ascending position per row.
    first_token = word_row[take] * length + word_col[take]
    take_length = word_length[take]
    token_flat = np.repeat(first_token - np.cumsum(take_length) + take_length, take_length) + np.arange(
        int(take_length.sum()))
    token_flat.sort()
    rows, cols = np.divmod(token_flat, length)

    # 80/10/10 per token, from the low 32 bits (the word order used the high 24).
    bits = random_bits(rows, cols)
    action = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) / float(1 << 32)
    masked_ids = input_ids.copy()
    to_mask = action < config.replace_prob
    to_random = (action >= config.replace_prob) & (action < config.replace_prob + config.random_prob)
    masked_ids[rows[to_mask], cols[to_mask]] = config.mask_token_id
    if to_random.any():  # rehash the few tokens concerned for bits independent of the above
        with np.errstate(over="ignore"):
            pick = mix64(bits[to_random] ^ _M2) % np.uint64(len(random_token_ids))
        masked_ids[rows[to_random], cols[to_random]] = np.asarray(random_token_ids)[pick.astype(np.int64)]

    # The chosen positions, ascending, in fixed-size [B, P] slots.
    counts = np.bincount(rows, minlength=batch)
    slots = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    masked_positions = np.zeros((batch, config.max_predictions), dtype=np.int64)
    masked_labels = np.full((batch, config.max_predictions), IGNORE_INDEX, dtype=np.int64)
    masked_positions[rows, slots] = cols
    masked_labels[rows, slots] = input_ids[rows, cols]
    return {"input_ids": masked_ids, "masked_positions": masked_positions,
            "masked_labels": masked_labels, "masked_counts": counts}
