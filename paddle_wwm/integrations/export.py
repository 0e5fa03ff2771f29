"""`paddle-wwm export SRC OUT --format taskflow|inference`.

* ``taskflow``: PaddleNLP's layout (``config.json`` with the architecture, ``model_state.pdparams``,
  vocabulary and tokenizer files): what ``Taskflow("text_classification", task_path=OUT,
  id2label=...)`` loads.
* ``inference``: ``paddle.jit.save`` of the model (``inference.json``/``.pdmodel`` +
  ``inference.pdiparams``, inputs ``input_ids``, ``token_type_ids``, ``attention_mask`` of any
  batch and length) with ``config.json`` and ``vocab.txt`` beside it, for a Paddle Inference
  predictor (``paddle_wwm.runtime.inference_config`` sets one up with oneDNN on CPU).

Both write into a temporary sibling directory that replaces OUT only when complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

FORMATS = ("taskflow", "inference")
INFERENCE_PREFIX = "inference"
# Models whose forward takes (input_ids, token_type_ids, attention_mask) and returns tensors only.
_INFERENCE_ARCHITECTURES = ("BertModel", "BertForMaskedLM", "BertForSequenceClassification",
                            "BertForTokenClassification", "BertForQuestionAnswering")


def export(src, out, fmt: str, overwrite: bool = False) -> Path:
    from paddle_wwm import zoo
    from paddle_wwm.checkpoints.layouts import architecture_of, read_checkpoint, write_checkpoint

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    checkpoint = read_checkpoint(zoo.resolve(src))
    if fmt == "taskflow":
        return write_checkpoint(checkpoint, out, layout="paddlenlp", overwrite=overwrite)
    architecture = checkpoint.architecture or architecture_of(checkpoint.state)
    if architecture not in _INFERENCE_ARCHITECTURES:
        raise ValueError(f"{checkpoint.source}: a {architecture} cannot be exported for inference; "
                         f"exportable: {', '.join(_INFERENCE_ARCHITECTURES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _save_inference(checkpoint, architecture, src, tmp)
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _save_inference(checkpoint, architecture: str, src, directory: Path) -> None:
    import paddle
    from paddle.static import InputSpec

    from paddle_wwm.modeling import MODEL_CLASSES

    model = MODEL_CLASSES[architecture].from_pretrained(src)
    model.eval()
    specs = [InputSpec([None, None], "int64", name) for name in ("input_ids", "token_type_ids", "attention_mask")]
    paddle.jit.save(model, str(directory / INFERENCE_PREFIX), input_spec=specs)
    config = {"architectures": [architecture], **checkpoint.config.to_dict()}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    vocab = checkpoint.vocab_file or getattr(model, "vocab_file", None)
    if vocab:
        shutil.copyfile(vocab, directory / "vocab.txt")


def inference_model_file(directory) -> str:
    """The program file of an inference export: ``.json`` (Paddle 3, PIR) or ``.pdmodel``."""
    prefix = Path(directory) / INFERENCE_PREFIX
    return str(prefix) + (".json" if Path(str(prefix) + ".json").exists() else ".pdmodel")
