"""Whole-word masking: word boundaries, chinese_ref files, corpus shards, instances, masking.

Pipeline: :mod:`corpus` (documents of sentences) -> segmenter -> :mod:`boundaries` (which
tokens begin a word) -> :mod:`shards` (written by :mod:`prepare`) -> :mod:`instances` (packed
sequences, NSP pairs) -> :mod:`masking` (whole-word masks) -> :mod:`dataset` (dataset and
collator giving the pre-training step its tensors).
"""
