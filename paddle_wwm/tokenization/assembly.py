"""From token ids to model inputs: special tokens, truncation, padding, tensors.

Works on ``(ids, offsets)`` pairs without special tokens (what :class:`.routing.RoutedEncoder`
returns) and on an :class:`.options.EncodingOptions`; semantics are transformers' (slow) ones.
"""
from __future__ import annotations

import contextlib
import gc

from .options import EncodingOptions

MODEL_INPUT_KEYS = ("input_ids", "token_type_ids", "attention_mask")
_NO_OFFSET = (0, 0)  # special and padding tokens


def output_keys(opts: EncodingOptions) -> list[str]:
    """The keys of an encoding for ``opts``, in order."""
    keys = ["input_ids"]
    if opts.return_token_type_ids:
        keys.append("token_type_ids")
    if opts.return_attention_mask:
        keys.append("attention_mask")
    if opts.return_offsets:
        keys.append("offset_mapping")
    if opts.return_length:
        # transformers calls it "length", PaddleNLP returns both names
        keys += ["length", "seq_len"]
    return keys


def assemble(first, second, opts: EncodingOptions, cls_id: int, sep_id: int) -> dict:
    """One encoding (lists) of a text and an optional pair text, truncated, not padded."""
    max_seq_len, with_offsets = opts.max_length, opts.return_offsets
    ids_a, off_a = first
    ids_b, off_b = second if second is not None else (None, None)
    n_special = (3 if ids_b is not None else 2) if opts.add_special_tokens else 0
    total = len(ids_a) + (len(ids_b) if ids_b is not None else 0) + n_special
    if total > max_seq_len:
        len_a, len_b = truncated_lengths(len(ids_a), None if ids_b is None else len(ids_b),
                                         total - max_seq_len, opts.truncation, max_seq_len)
        ids_a = ids_a[:len_a]
        off_a = off_a[:len_a] if off_a is not None else None
        if ids_b is not None:
            ids_b = ids_b[:len_b]
            off_b = off_b[:len_b] if off_b is not None else None
    if opts.add_special_tokens:
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
        offs = [tuple(o) for o in off_a]
        if opts.add_special_tokens:
            offs = [_NO_OFFSET, *offs, _NO_OFFSET]
        if ids_b is not None:
            offs += [tuple(o) for o in off_b]
            if opts.add_special_tokens:
                offs.append(_NO_OFFSET)
        out["offset_mapping"] = offs
    return out


def truncated_lengths(len_a: int, len_b: int | None, remove: int, truncation, max_seq_len: int):
    """Lengths after transformers' (slow) truncation; impossible requests raise ValueError."""
    if truncation is None:
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
def gc_paused():
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


def finish(outs: list[dict], opts: EncodingOptions, pad_id: int) -> dict:
    """Pad the encodings as ``opts`` asks and gather them by key: ``{key: [per item]}``."""
    lengths = [len(o["input_ids"]) for o in outs]
    if opts.padding == "max_length":
        _pad(outs, opts.max_length, pad_id)
    elif opts.padding == "longest" and outs:
        _pad(outs, max(lengths), pad_id)
    keys = output_keys(opts)
    result = {k: [o[k] for o in outs] for k in keys if k not in ("length", "seq_len")}
    if opts.return_length:
        result["length"] = lengths
        result["seq_len"] = list(lengths)
    return result


def _pad(outs: list[dict], length: int, pad_id: int) -> None:
    for o in outs:
        n = length - len(o["input_ids"])
        if n <= 0:
            continue
        o["input_ids"] += [pad_id] * n
        o["token_type_ids"] += [0] * n
        o["attention_mask"] += [0] * n
        if "offset_mapping" in o:
            o["offset_mapping"] += [_NO_OFFSET] * n


def to_tensors(result: dict, kind: str) -> dict:
    """``{key: [per item]}`` as int64 arrays ("np") or paddle tensors ("pd"; imports paddle)."""
    import numpy as np

    arrays = {}
    for k, v in result.items():
        if k in ("length", "seq_len"):
            arrays[k] = np.asarray(v, dtype=np.int64)
            continue
        lengths = {len(x) for x in v}
        if len(lengths) > 1:
            raise ValueError(
                f"return_tensors={kind!r} needs sequences of one length but {k} has lengths "
                f"{min(lengths)}..{max(lengths)}; pass padding='longest' or 'max_length'"
            )
        shape = (len(v), lengths.pop() if lengths else 0) + ((2,) if k == "offset_mapping" else ())
        arrays[k] = np.asarray(v, dtype=np.int64).reshape(shape)
    if kind == "pd":
        import paddle

        return {k: paddle.to_tensor(a) for k, a in arrays.items()}
    return arrays
