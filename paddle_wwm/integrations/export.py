"""`paddle-wwm export SRC OUT --format taskflow|inference|onnx [--precision int8 [--calibration FILE]]`.

* ``taskflow``: PaddleNLP's layout (``config.json`` with the architecture, ``model_state.pdparams``,
  vocabulary and tokenizer files): a ``task_path`` for PaddleNLP Taskflow. A classifier is what
  ``Taskflow("text_classification", task_path=OUT, id2label=...)`` loads; a checkpoint with an
  MLM head is what ``Taskflow("fill_mask", task_path=OUT)`` loads. A ``BertForPretraining`` is
  written as a PaddleNLP ``BertForMaskedLM``: the NSP head is dropped (no Taskflow task uses it,
  and PaddleNLP's masked-LM class would only warn about its unused weights); the encoder, pooler
  and MLM head are kept as they are, so the MLM logits are the same. (``convert --to paddlenlp``
  keeps every head.) PaddleNLP ties the MLM decoder to the word embeddings, as our model does.
* ``inference``: ``paddle.jit.save`` of the model (``inference.json``/``.pdmodel`` +
  ``inference.pdiparams``, inputs ``input_ids``, ``token_type_ids``, ``attention_mask`` of any
  batch and length) with ``config.json`` and ``vocab.txt`` beside it, for a Paddle Inference
  predictor (``paddle_wwm.runtime.inference_config`` sets one up with oneDNN on CPU).
* ``onnx``: the same program converted by paddle2onnx into ``model.onnx`` (same inputs, their
  dimensions named ``batch`` and ``sequence``; outputs named as in ``ONNX_OUTPUT_NAMES``), with
  ``config.json`` and ``vocab.txt`` beside it, for onnxruntime and other ONNX runtimes. Opset 17
  (``ONNX_OPSET``): the first opset with a LayerNormalization operator, which paddle2onnx then
  emits as one node per layer norm instead of a ReduceMean/Sub/Pow/Sqrt/Div chain (at 16), while
  old enough for the runtimes in use (onnxruntime since 1.13, TensorRT since 8.6). GELU stays an
  Erf expression (a Gelu operator needs opset 20). paddle2onnx 2.1 accepts opsets 7-21 only.

``inference`` and ``onnx`` take the architectures in ``STATIC_ARCHITECTURES``; a
``BertForPretraining`` (``pretrain``'s ``final/``) goes out as its ``BertForMaskedLM``, as for
Taskflow, so that a pre-trained model fills masks through Paddle Inference or onnxruntime. Every
format writes into a temporary sibling directory that replaces OUT only when complete.

``--precision int8`` (``onnx`` only): ``model.onnx`` is ONNX Runtime's post-training quantization of
the export (``integrations/quantize.py``: dynamic, or static calibrated on the texts of
``--calibration FILE``), and ``config.json`` records ``precision`` and ``quantization``.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from paddle_wwm.atomic_files import write_dir_atomic
from paddle_wwm.errors import InvalidInputError

FORMATS = ("taskflow", "inference", "onnx")
INFERENCE_PREFIX = "inference"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")
# Models whose forward takes (input_ids, token_type_ids, attention_mask) and returns tensors only,
# with the names their outputs get in an ONNX export (QA has the third with CJRC's answer types).
ONNX_OUTPUT_NAMES = {
    "BertModel": ("sequence_output", "pooled_output"),
    "BertForMaskedLM": ("logits",),
    "BertForSequenceClassification": ("logits",),
    "BertForTokenClassification": ("logits",),
    "BertForQuestionAnswering": ("start_logits", "end_logits", "answer_type_logits"),
}
STATIC_ARCHITECTURES = tuple(ONNX_OUTPUT_NAMES)


def export(src, out, fmt: str, overwrite: bool = False, precision: str = "fp32", calibration=None) -> Path:
    """precision "int8" (onnx only): ONNX Runtime's post-training quantization of the export,
    dynamic, or static with the texts of the calibration file (see integrations/quantize.py)."""
    from paddle_wwm import store
    from paddle_wwm.checkpoints.layouts import read_checkpoint, write_checkpoint
    from paddle_wwm.integrations.quantize import check_request

    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    check_request(fmt, precision, calibration)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:  # before any work: reading, loading, tracing
        raise FileExistsError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    if fmt == "onnx":
        _require_paddle2onnx()
    checkpoint = _without_nsp_head(read_checkpoint(store.resolve(src)))
    if fmt == "taskflow":
        return write_checkpoint(checkpoint, out, layout="paddlenlp", overwrite=overwrite)
    architecture = _static_architecture(checkpoint, fmt)
    save = _save_inference if fmt == "inference" else _save_onnx

    def write(directory: Path) -> None:
        _save_static(checkpoint, architecture, directory, save)
        if precision == "int8":
            _quantize_in_place(directory, calibration)

    return write_dir_atomic(out, write, overwrite=overwrite)


def _quantize_in_place(directory: Path, calibration) -> None:
    """Replace directory's fp32 model.onnx by its int8 version; config.json records how."""
    from paddle_wwm.integrations.quantize import CALIBRATION_MAX_SEQ_LEN, quantize_onnx

    config_file = directory / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    fp32_file = directory / "model-fp32.onnx"
    (directory / ONNX_FILE).rename(fp32_file)
    vocab = directory / "vocab.txt"
    max_seq_len = min(CALIBRATION_MAX_SEQ_LEN, config.get("max_position_embeddings", CALIBRATION_MAX_SEQ_LEN))
    how = quantize_onnx(fp32_file, directory / ONNX_FILE, calibration, vocab if vocab.is_file() else None, max_seq_len)
    fp32_file.unlink()
    config.update(precision="int8", quantization=how)
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _without_nsp_head(checkpoint):
    """A BertForPretraining as a BertForMaskedLM (no export format serves next-sentence
    prediction); any other checkpoint as it is."""
    from paddle_wwm.checkpoints.layouts import architecture_of

    if (checkpoint.architecture or architecture_of(checkpoint.state)) != "BertForPretraining":
        return checkpoint
    state = {name: value for name, value in checkpoint.state.items() if not name.startswith("nsp.")}
    return dataclasses.replace(checkpoint, state=state, architecture="BertForMaskedLM")


def _static_architecture(checkpoint, fmt: str) -> str:
    from paddle_wwm.checkpoints.layouts import architecture_of

    architecture = checkpoint.architecture or architecture_of(checkpoint.state)
    if architecture not in STATIC_ARCHITECTURES:
        raise InvalidInputError(f"{checkpoint.source}: a {architecture} cannot be exported for {fmt}; "
                         f"exportable: {', '.join(STATIC_ARCHITECTURES)}")
    return architecture


def _save_static(checkpoint, architecture: str, directory: Path, save) -> None:
    """The model in eval mode, handed to save(model, architecture, directory); then its
    config.json (with the architecture) and vocab.txt beside what save wrote."""
    from paddle_wwm.modeling import MODEL_CLASSES

    model = MODEL_CLASSES[architecture].from_pretrained(checkpoint)  # the checkpoint export() read
    model.eval()
    save(model, architecture, directory)
    config = {"architectures": [architecture], **checkpoint.config.to_dict()}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    vocab = checkpoint.vocab_file or getattr(model, "vocab_file", None)
    if vocab:
        shutil.copyfile(vocab, directory / "vocab.txt")


def _jit_save(model, prefix: Path) -> None:
    """paddle.jit.save with inputs input_ids, token_type_ids, attention_mask: int64 [batch, seq],
    both dimensions dynamic."""
    import paddle
    from paddle.static import InputSpec

    specs = [InputSpec([None, None], "int64", name) for name in INPUT_NAMES]
    paddle.jit.save(model, str(prefix), input_spec=specs)


def _save_inference(model, architecture: str, directory: Path) -> None:
    _jit_save(model, directory / INFERENCE_PREFIX)


def _require_paddle2onnx() -> None:
    try:
        import onnx  # noqa: F401
        import paddle2onnx  # noqa: F401
    except ImportError as error:
        raise InvalidInputError(f"the onnx format needs paddle2onnx (pip install paddle2onnx): {error}") from None


def _save_onnx(model, architecture: str, directory: Path) -> None:
    import paddle2onnx

    with tempfile.TemporaryDirectory(prefix="static-", dir=directory) as static:
        _jit_save(model, Path(static) / INFERENCE_PREFIX)
        try:
            # With save_file=None paddle2onnx returns the model's bytes and skips its optional
            # polygraphy pass (which sets POLYGRAPHY_AUTOINSTALL_DEPS=1: it may pip-install).
            onnx_bytes = paddle2onnx.export(inference_model_file(static),
                                            str(Path(static) / f"{INFERENCE_PREFIX}.pdiparams"),
                                            opset_version=ONNX_OPSET, auto_upgrade_opset=False)
        except SystemExit:  # paddle2onnx logs the conversion error, then calls sys.exit(-1)
            raise RuntimeError(f"paddle2onnx could not convert the {architecture} (its error is "
                               "logged above)") from None
    onnx_model = _name_onnx_graph(onnx_bytes, ONNX_OUTPUT_NAMES[architecture])
    (directory / ONNX_FILE).write_bytes(onnx_model.SerializeToString())


def _name_onnx_graph(onnx_bytes: bytes, output_names: tuple):
    """paddle2onnx names the outputs fetch_name_0, ... and each input dimension on its own
    (DynamicDimension.N): name the outputs after what they are, the input dimensions batch and
    sequence (one pair shared by the three inputs)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    if len(graph.output) > len(output_names):
        raise RuntimeError(f"the ONNX graph has {len(graph.output)} outputs, expected {len(output_names)}")
    renames = {value.name: name for value, name in zip(graph.output, output_names)}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in (*graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    for value in graph.input:
        for dim, name in zip(value.type.tensor_type.shape.dim, ("batch", "sequence")):
            dim.dim_param = name
    onnx.checker.check_model(model)
    return model


def inference_model_file(directory) -> str:
    """The program file of an inference export: ``.json`` (Paddle 3, PIR) or ``.pdmodel``."""
    prefix = Path(directory) / INFERENCE_PREFIX
    return str(prefix) + (".json" if Path(str(prefix) + ".json").exists() else ".pdmodel")
