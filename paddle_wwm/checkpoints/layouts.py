"""Whole checkpoint directories: find the files of each layout, read them into our canonical
state, and write them out again (atomically: into a temporary sibling, then renamed)."""
from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paddle_wwm.atomic_files import write_dir_atomic
from paddle_wwm.errors import InvalidInputError
from paddle_wwm.modeling.config import BertConfig, ConfigError

from . import names as name_maps
from .archives import unpacked_checkpoint
from .tensor_files import (CheckpointError, read_pdparams, read_safetensors, read_tf_checkpoint, read_torch_bin,
                           safetensors_metadata, tf_checkpoint_prefix, write_pdparams, write_safetensors)

OUR_FORMAT_TAG = "paddle_wwm"
CONFIG_FILES = ("config.json", "model_config.json", "bert_config.json")
WEIGHT_FILES = ("model.safetensors", "model_state.pdparams", "pytorch_model.bin")
LAYOUT_NAMES = ("paddle_wwm", "huggingface", "paddlenlp")
SHIPPED_VOCAB = Path(__file__).resolve().parent.parent / "data" / "vocab.txt"

# Architecture names per layout for what a state's heads make it.
_ARCHITECTURES = {
    "BertModel": ("BertModel", "BertModel"),
    "BertForPretraining": ("BertForPreTraining", "BertForPretraining"),
    "BertForMaskedLM": ("BertForMaskedLM", "BertForMaskedLM"),
    "BertForSequenceClassification": ("BertForSequenceClassification", "BertForSequenceClassification"),
    "BertForTokenClassification": ("BertForTokenClassification", "BertForTokenClassification"),
    "BertForQuestionAnswering": ("BertForQuestionAnswering", "BertForQuestionAnswering"),
    "BertForTextMatching": ("BertModel", "BertModel"),
}


@dataclass
class Checkpoint:
    config: BertConfig
    state: dict  # our canonical names -> numpy arrays
    source: Path
    layout: str
    vocab_file: Path | None
    architecture: str | None = None


def architecture_of(state: dict) -> str:
    if "mlm.bias" in state:
        return "BertForPretraining" if "nsp.weight" in state else "BertForMaskedLM"
    if "qa_outputs.weight" in state:
        return "BertForQuestionAnswering"
    if "classifier.weight" in state:
        # [3 * hidden, classes] is the text-matching head, [hidden, classes] the sequence one.
        hidden = state["bert.embeddings.word_embeddings.weight"].shape[1]
        return "BertForTextMatching" if state["classifier.weight"].shape[0] == 3 * hidden \
            else "BertForSequenceClassification"
    return "BertModel"


def detect_layout(state_names) -> str:
    names = list(state_names)
    if any(".attention.qkv." in n for n in names):
        return "paddle_wwm"
    if any(".self_attn." in n or "encoder.layers." in n for n in names):
        return "paddlenlp"
    if any("encoder.layer." in n for n in names):
        return "huggingface"
    if any("encoder/layer_" in n for n in names):
        return "tensorflow"
    return "unknown"


# ------------------------------------------------------------------ reading
def _find_config(directory: Path) -> Path:
    for name in CONFIG_FILES:
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(f"{directory}: no model config found (looked for {', '.join(CONFIG_FILES)})")


def _read_tensors(directory: Path) -> tuple[dict, Path]:
    prefix = tf_checkpoint_prefix(directory)
    for name in WEIGHT_FILES:
        path = directory / name
        if path.is_file():
            if name == "model.safetensors":
                return read_safetensors(path), path
            if name == "model_state.pdparams":
                return read_pdparams(path), path
            return read_torch_bin(path), path
    if prefix is not None:
        return read_tf_checkpoint(prefix), prefix
    raise CheckpointError(f"{directory}: no weights found (looked for {', '.join(WEIGHT_FILES)} "
                          "and a TensorFlow bert_model.ckpt.index)")


def _normalise_hf_names(state: dict) -> dict:
    # Old Hugging Face (and pytorch-pretrained-BERT) files name LayerNorm parameters gamma/beta.
    out = {}
    for name, value in state.items():
        if name.endswith("position_ids"):  # a buffer some versions saved, not a weight
            continue
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        out[name] = value
    return out


def count_vocab(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def read_checkpoint(path) -> Checkpoint:
    """Read a checkpoint directory (or a TF checkpoint prefix) of any supported layout."""
    path = Path(path)
    if not path.exists() and tf_checkpoint_prefix(path) is None:
        raise CheckpointError(f"{path}: no such file or directory")
    directory = path if path.is_dir() else path.parent
    config_file = _find_config(directory)
    config = BertConfig.from_file(config_file)
    raw, weights_file = _read_tensors(path if path.is_dir() else path)
    layout = detect_layout(raw)
    if weights_file.name == "model.safetensors" and safetensors_metadata(weights_file).get("format") == OUR_FORMAT_TAG:
        layout = "paddle_wwm"
    if layout == "unknown":
        raise CheckpointError(f"{weights_file}: these tensor names are not a BERT in any layout we know "
                              f"(first names: {', '.join(sorted(raw)[:5])})")
    if layout == "paddle_wwm":
        state, unused = dict(raw), []
    else:
        if layout == "huggingface":
            raw = _normalise_hf_names(raw)
        layout_map = name_maps.LAYOUTS[layout]
        if layout == "paddlenlp":
            architectures = json.loads(config_file.read_text("utf-8")).get("architectures") or []
            layout_map = name_maps.paddlenlp_layout(raw, architectures)
        state, unused = name_maps.to_ours(raw, layout_map, config.num_hidden_layers)
    unused = [n for n in unused if not n.startswith(name_maps.TIED_COPIES)]
    if unused:
        raise CheckpointError(f"{weights_file}: {len(unused)} tensors match no parameter of a "
                              f"{config.num_hidden_layers}-layer BERT: {', '.join(unused[:20])}")
    vocab_file = directory / "vocab.txt" if (directory / "vocab.txt").is_file() else None
    vocab_count = count_vocab(vocab_file) if vocab_file is not None else config.vocab_size
    if vocab_count != config.vocab_size:
        raise CheckpointError(f"{vocab_file}: {vocab_count} tokens, but {config_file} "
                              f"says vocab_size {config.vocab_size}")
    check_shapes(state, config, str(weights_file))
    return Checkpoint(config, state, weights_file, layout, vocab_file, architecture_of(state))


def expected_shapes(config: BertConfig) -> dict:
    h, i = config.hidden_size, config.intermediate_size
    shapes = {
        "bert.embeddings.word_embeddings.weight": (config.vocab_size, h),
        "bert.embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
        "bert.embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
        "bert.embeddings.layer_norm.weight": (h,), "bert.embeddings.layer_norm.bias": (h,),
        "bert.pooler.dense.weight": (h, h), "bert.pooler.dense.bias": (h,),
        "mlm.transform.weight": (h, h), "mlm.transform.bias": (h,),
        "mlm.transform_norm.weight": (h,), "mlm.transform_norm.bias": (h,), "mlm.bias": (config.vocab_size,),
        "nsp.weight": (h, 2), "nsp.bias": (2,),
    }
    for n in range(config.num_hidden_layers):
        p = f"bert.layers.{n}."
        shapes.update({
            p + "attention.qkv.weight": (h, 3 * h), p + "attention.qkv.bias": (3 * h,),
            p + "attention.out.weight": (h, h), p + "attention.out.bias": (h,),
            p + "attention_norm.weight": (h,), p + "attention_norm.bias": (h,),
            p + "intermediate.weight": (h, i), p + "intermediate.bias": (i,),
            p + "output.weight": (i, h), p + "output.bias": (h,),
            p + "output_norm.weight": (h,), p + "output_norm.bias": (h,),
        })
    return shapes


def check_shapes(state: dict, config: BertConfig, source: str) -> None:
    expected = expected_shapes(config)
    wrong = [f"{name}: {tuple(value.shape)} (config implies {expected[name]})"
             for name, value in state.items() if name in expected and tuple(value.shape) != expected[name]]
    missing = [name for name in expected if name.startswith("bert.") and name not in state
               and not name.startswith("bert.pooler")]
    problems = []
    if wrong:
        problems.append("shapes that disagree with the config: " + "; ".join(wrong[:20]))
    if missing:
        problems.append(f"{len(missing)} encoder tensors missing: " + ", ".join(missing[:20]))
    if problems:
        raise CheckpointError(f"{source}: " + ". ".join(problems))


# ------------------------------------------------------------------ writing
def _tokenizer_files(out: Path, vocab_file: Path | None, config: BertConfig) -> None:
    vocab_file = Path(vocab_file) if vocab_file else None
    if vocab_file is None and config.vocab_size == count_vocab(SHIPPED_VOCAB):
        vocab_file = SHIPPED_VOCAB
    if vocab_file is None:
        warnings.warn(f"no vocab.txt for a vocabulary of {config.vocab_size}: {out} has none", stacklevel=3)
        return
    shutil.copyfile(vocab_file, out / "vocab.txt")
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
               "mask_token": "[MASK]"}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    tokenizer_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
                        **special}
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")


def write_checkpoint(checkpoint: Checkpoint, out_dir, layout: str = "paddle_wwm", overwrite: bool = False,
                     extra_config: dict | None = None) -> Path:
    """Write `checkpoint` to out_dir in `layout`. Nothing is left half-written: the files go to a
    temporary sibling directory that replaces out_dir only once complete."""
    if layout not in LAYOUT_NAMES:
        raise InvalidInputError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUT_NAMES)}")
    config = checkpoint.config
    architecture = checkpoint.architecture or architecture_of(checkpoint.state)
    check_shapes(checkpoint.state, config, "model")

    def write(tmp: Path) -> None:
        hf_arch, nlp_arch = _ARCHITECTURES[architecture]
        state = {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
                 for k, v in checkpoint.state.items()}
        num_labels = {"num_labels": int(state["classifier.bias"].shape[0])} if "classifier.bias" in state else {}
        if layout == "paddle_wwm":
            write_safetensors(state, tmp / "model.safetensors", metadata={"format": OUR_FORMAT_TAG})
            config_dict = {"architectures": [architecture], **config.to_dict(), **num_labels}
        elif layout == "huggingface":
            foreign = name_maps.from_ours(state, name_maps.HF, config.num_hidden_layers)
            write_safetensors(foreign, tmp / "model.safetensors", metadata={"format": "pt"})
            config_dict = {**config.to_hf_dict(hf_arch), **num_labels}
        else:
            layout_map = name_maps.PADDLENLP_QA if architecture == "BertForQuestionAnswering" else name_maps.PADDLENLP
            foreign = name_maps.from_ours(state, layout_map, config.num_hidden_layers)
            if "cls.predictions.decoder_bias" in foreign:  # PaddleNLP's tied decoder expects both
                foreign["cls.predictions.decoder.weight"] = foreign["bert.embeddings.word_embeddings.weight"]
                foreign["cls.predictions.decoder.bias"] = foreign["cls.predictions.decoder_bias"]
            write_pdparams(foreign, tmp / "model_state.pdparams")
            config_dict = {**config.to_paddlenlp_dict(nlp_arch), **num_labels}
        config_dict.update(extra_config or {})
        (tmp / "config.json").write_text(json.dumps(config_dict, indent=2, ensure_ascii=False) + "\n", "utf-8")
        _tokenizer_files(tmp, checkpoint.vocab_file, config)

    return write_dir_atomic(out_dir, write, overwrite=overwrite)


def convert(src, dst, layout: str = "paddle_wwm", overwrite: bool = False) -> Checkpoint:
    """Read `src` (a checkpoint directory, TF prefix, or a zip/tar.gz of one) and write it to `dst`."""
    with unpacked_checkpoint(src) as directory:  # the vocab is copied from there: write inside
        checkpoint = read_checkpoint(directory)
        write_checkpoint(checkpoint, dst, layout=layout, overwrite=overwrite)
    return checkpoint


__all__ = ["Checkpoint", "CheckpointError", "ConfigError", "read_checkpoint", "write_checkpoint", "convert",
           "detect_layout", "architecture_of", "check_shapes", "LAYOUT_NAMES"]
