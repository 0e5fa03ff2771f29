"""The pre-training dataset over prepared shards, and the collator that masks batches.

``WWMDataset`` serves, for the current epoch, the packed sequences of its shards (unmasked):
token ids with ``[CLS]``/``[SEP]``, token types, word starts and the NSP label.
``WWMCollator`` pads a list of them and applies whole-word masking to the batch at once.

Static and dynamic masking differ only in the round that seeds packing and masking:
``round = epoch`` (dynamic: new sequences and masks every epoch) or ``round = epoch % dupe_factor``
(static, as the seed's RoBERTa-wwm-ext: ``dupe_factor`` fixed copies of the data, each with its
own masks, seen in turn). A sequence's masks depend on (seed, round, instance id) only, never on
the batch, worker or rank it lands in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from paddle_wwm.wwm.instances import PackingConfig, build_instances
from paddle_wwm.wwm.masking import MaskingConfig, default_max_predictions, whole_word_mask
from paddle_wwm.wwm.shards import Shard, load_shards

MASKING_MODES = ("dynamic", "static")


@dataclass(frozen=True)
class WWMConfig:
    """Everything that fixes the sequences and masks a run sees (besides the data)."""
    max_seq_len: int = 128
    nsp: bool = True
    short_seq_prob: float = 0.1
    masking: str = "dynamic"
    dupe_factor: int = 10
    seed: int = 12345
    mask_prob: float = 0.15
    max_predictions: int | None = None  # None: 20 at 128, 80 at 512
    # False: every token is its own unit (character masking for Chinese, Google's original
    # BERT-Chinese): the same data, rate and 80/10/10, only the word boundaries are ignored.
    mask_whole_words: bool = True

    def __post_init__(self):
        if self.masking not in MASKING_MODES:
            raise ValueError(f"masking must be one of {MASKING_MODES}, got {self.masking!r}")
        if self.dupe_factor < 1:
            raise ValueError(f"dupe_factor must be >= 1, got {self.dupe_factor}")

    def round(self, epoch: int) -> int:
        return epoch % self.dupe_factor if self.masking == "static" else epoch

    @property
    def packing(self) -> PackingConfig:
        return PackingConfig(self.max_seq_len, self.short_seq_prob, self.nsp)

    def masking_config(self, mask_token_id: int) -> MaskingConfig:
        max_predictions = self.max_predictions or default_max_predictions(self.max_seq_len, self.mask_prob)
        return MaskingConfig(self.mask_prob, max_predictions, mask_token_id)


class WWMDataset:
    """Packed (unmasked) sequences of some shards of a prepared directory, epoch by epoch.

    Args:
        directory: output of ``paddle-wwm prepare``.
        config: packing and masking settings; ``max_seq_len`` may differ from the prepare run's
            (sentences longer than a segment are truncated).
        shard_indices: the shards this reader owns (e.g. one rank's part); default all.
    """

    def __init__(self, directory: str | os.PathLike, config: WWMConfig = WWMConfig(),
                 shard_indices: Sequence[int] | None = None):
        self.manifest, shards = load_shards(directory)
        if shard_indices is None:
            shard_indices = range(len(shards))
        self.shard_indices = list(shard_indices)
        self.shards: list[Shard] = [shards[i] for i in self.shard_indices]
        special = self.manifest["settings"]["special_ids"]
        self._cls, self._sep = special["cls"], special["sep"]
        self.config = config
        self.epoch = 0
        self._round = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Pack the shards for this epoch's round (cached while the round stays the same)."""
        self.epoch = epoch
        round_ = self.config.round(epoch)
        if round_ == self._round:
            return
        self._round = round_
        self._tables = [build_instances(shard, self.config.packing, self.config.seed, round_)
                        for shard in self.shards]
        self._ends = np.cumsum([len(t) for t in self._tables])

    @property
    def mask_round(self) -> int:
        return self._round

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} sequences")
        which = int(np.searchsorted(self._ends, index, side="right"))
        local = index - (int(self._ends[which - 1]) if which else 0)
        shard = self.shards[which]
        a_start, a_end, b_start, b_end, is_random_next = self._tables[which][local]
        cls_id, sep_id = self._cls, self._sep
        pieces_ids = [[cls_id], shard.ids[a_start:a_end], [sep_id]]
        pieces_starts = [[0], shard.starts[a_start:a_end], [0]]
        len_a = 2 + a_end - a_start
        if b_end > b_start:
            pieces_ids += [shard.ids[b_start:b_end], [sep_id]]
            pieces_starts += [shard.starts[b_start:b_end], [0]]
        input_ids = np.concatenate(pieces_ids).astype(np.int64)
        token_type_ids = np.zeros(len(input_ids), dtype=np.int64)
        token_type_ids[len_a:] = 1
        item = {"input_ids": input_ids, "token_type_ids": token_type_ids,
                "word_starts": np.concatenate(pieces_starts).astype(bool),
                "instance_id": (self.shard_indices[which] << 32) | local, "mask_round": self._round}
        if self.config.nsp:
            item["next_sentence_label"] = int(is_random_next)
        return item


def random_token_ids(vocab: dict[str, int]) -> np.ndarray:
    """Ids a masked token may be replaced by: the vocabulary without [PAD]/[CLS]/... and [unusedN].

    Google and HF draw from the whole vocabulary (specials included); a [CLS] in mid-sentence is
    noise no fine-tuning input ever has.
    """
    return np.asarray(sorted(i for t, i in vocab.items() if not (t.startswith("[") and t.endswith("]"))),
                      dtype=np.int64)


class WWMCollator:
    """Pads a list of :class:`WWMDataset` items and masks whole words.

    Returns numpy arrays (paddle's DataLoader turns them into tensors) or, with
    ``return_tensors="pd"``, paddle tensors: ``input_ids``, ``token_type_ids``, ``attention_mask``
    [B, L]; ``masked_positions``, ``masked_labels`` [B, max_predictions] (padding: position 0,
    label -100); ``next_sentence_label`` [B] with NSP.

    Args:
        pad_to: pad every batch to this length (static shapes for compiled graphs); default the
            longest sequence of the batch.
    """

    def __init__(self, config: WWMConfig, vocab: dict[str, int], pad_to: int | None = None,
                 return_tensors: str = "np"):
        self.config = config
        self.masking = config.masking_config(vocab["[MASK]"])
        self.pad_id = vocab["[PAD]"]
        self.is_special = np.zeros(max(vocab.values()) + 1, dtype=bool)
        self.is_special[[vocab[t] for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")]] = True
        self.candidates = random_token_ids(vocab)
        self.pad_to = pad_to
        if return_tensors not in ("np", "pd"):
            raise ValueError(f"return_tensors must be 'np' or 'pd', got {return_tensors!r}")
        self.return_tensors = return_tensors

    def __call__(self, items: Sequence[dict]) -> dict:
        lengths = np.fromiter((len(it["input_ids"]) for it in items), dtype=np.int64, count=len(items))
        width = self.pad_to or int(lengths.max())
        if lengths.max() > width:
            raise ValueError(f"a sequence of {lengths.max()} tokens does not fit pad_to={width}")
        batch = len(items)
        attention_mask = np.arange(width)[None, :] < lengths[:, None]
        input_ids = np.full((batch, width), self.pad_id, dtype=np.int64)
        token_type_ids = np.zeros((batch, width), dtype=np.int64)
        word_starts = np.zeros((batch, width), dtype=bool)
        input_ids[attention_mask] = np.concatenate([it["input_ids"] for it in items])
        token_type_ids[attention_mask] = np.concatenate([it["token_type_ids"] for it in items])
        word_starts[attention_mask] = (np.concatenate([it["word_starts"] for it in items])
                                       if self.config.mask_whole_words else True)
        maskable = attention_mask & ~self.is_special[input_ids]
        masked = whole_word_mask(
            input_ids, word_starts, maskable, lengths,
            np.fromiter((it["instance_id"] for it in items), dtype=np.int64, count=batch),
            seed=self.config.seed, mask_round=np.fromiter((it["mask_round"] for it in items), dtype=np.int64,
                                                          count=batch),
            config=self.masking, random_token_ids=self.candidates)
        out = {"input_ids": masked["input_ids"], "token_type_ids": token_type_ids,
               "attention_mask": attention_mask.astype(np.int64),
               "masked_positions": masked["masked_positions"], "masked_labels": masked["masked_labels"]}
        if "next_sentence_label" in items[0]:
            out["next_sentence_label"] = np.fromiter((it["next_sentence_label"] for it in items),
                                                     dtype=np.int64, count=batch)
        if self.return_tensors == "pd":
            import paddle

            out = {k: paddle.to_tensor(v) for k, v in out.items()}
        return out
