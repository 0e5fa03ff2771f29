"""int8 post-training quantization of an ONNX export (`paddle-wwm export ... --precision int8`).

ONNX Runtime's quantizer on our paddle2onnx graph, chosen by measurement
(`benchmarks/bench_int8.py`, figures in `benchmarks/results_int8.json`):

* without a calibration file, **dynamic** quantization (``quantize_dynamic``): the weights of every
  MatMul become int8 once, the activations are scaled per batch at run time (``MatMulInteger`` /
  ``DynamicQuantizeMatMul``). This is what Optimum's ``ORTQuantizer`` with
  ``AutoQuantizationConfig.avx2/avx512_vnni(is_static=False)`` does. Weights are signed int8
  (``QInt8``) as Optimum's VNNI/AVX-512 configurations use; ONNX Runtime's u8s8 kernels need
  VNNI for full speed, the int8 model still runs (and gives the same labels) without it.
* with a calibration file (one text per line, or a TSV whose header names a ``text_a`` column),
  **static** quantization (``quantize_static``, QDQ format): activation ranges of every MatMul
  input come from running the fp32 model over those texts (MinMax), so no range is computed at run
  time.

Paddle's own path cannot be used with Paddle 3: ``paddle.static.quantization``'s
PostTrainingQuantization (and the oneDNN int8 passes of Paddle Inference) rewrite a legacy
``ProgramDesc`` (``IrGraph(core.Graph(program.desc))``), while Paddle 3's ``paddle.jit.save``
writes PIR programs (``inference.json``), and with PIR turned off (``FLAGS_enable_pir_api=0``)
dy2static can no longer trace the model (``matmul(): argument must be Value, but got Variable``).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from paddle_wwm.errors import InvalidInputError

PRECISIONS = ("fp32", "int8")
QUANTIZED_OPS = ("MatMul",)  # GEMMs are the time; quantizing Add/Gather/Softmax costs accuracy, not time
CALIBRATION_TEXT_COLUMN = "text_a"
CALIBRATION_MAX_SEQ_LEN = 128
CALIBRATION_BATCH_SIZE = 8
PADDLE_INT8_UNAVAILABLE = (
    "int8 with --format inference needs Paddle's post-training quantization, which rewrites legacy "
    "static programs only: Paddle 3 exports PIR programs (inference.json), and without PIR dy2static "
    "cannot trace the model. Use --format onnx --precision int8 (ONNX Runtime's quantizer)")


def check_request(fmt: str, precision: str, calibration) -> None:
    """Refuse an unusable precision/format/calibration combination before any work is done."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        if calibration is not None:
            raise InvalidInputError("--calibration is for --precision int8 (static quantization)")
        return
    if fmt == "taskflow":
        raise InvalidInputError("--precision int8 is for --format onnx: a Taskflow export holds "
                                "PaddleNLP's fp32 weights")
    if fmt == "inference":
        raise InvalidInputError(PADDLE_INT8_UNAVAILABLE)
    _require_onnxruntime()
    if calibration is not None:
        read_calibration_texts(calibration)


def _require_onnxruntime() -> None:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError as error:
        raise InvalidInputError(f"--precision int8 needs onnxruntime (pip install onnxruntime): {error}") from None


def read_calibration_texts(path) -> list[str]:
    """The texts of a calibration file: one text per line, or a TSV with a header naming a
    ``text_a`` column (as the ChnSentiCorp files are). Blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: calibration file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: calibration file is not UTF-8 text ({error})") from None
    if lines and CALIBRATION_TEXT_COLUMN in lines[0].split("\t"):
        rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
        texts = [(row.get(CALIBRATION_TEXT_COLUMN) or "").strip() for row in rows]
    else:
        texts = [line.strip() for line in lines]
    texts = [text for text in texts if text]
    if not texts:
        raise InvalidInputError(f"{path}: calibration file has no texts (one text per line, or a TSV "
                                f"with a {CALIBRATION_TEXT_COLUMN} column)")
    return texts


class _CalibrationBatches:
    """onnxruntime's CalibrationDataReader protocol over tokenized texts: get_next() returns one
    padded batch of model inputs, then None."""

    def __init__(self, texts: list[str], vocab_file, input_names: list[str], max_seq_len: int):
        from paddle_wwm.tokenization import BertTokenizer

        tokenizer = BertTokenizer(vocab_file) if vocab_file else BertTokenizer()
        self.batches = []
        for start in range(0, len(texts), CALIBRATION_BATCH_SIZE):
            encoded = tokenizer(texts[start:start + CALIBRATION_BATCH_SIZE], max_seq_len=max_seq_len,
                                padding="longest", return_tensors="np")
            self.batches.append({name: encoded[name].astype("int64") for name in input_names})
        self.position = 0

    def get_next(self):
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return self.batches[self.position - 1]

    def rewind(self):
        self.position = 0


def constants_as_initializers(model):
    """paddle2onnx writes every weight as a Constant node (then an Identity); ONNX Runtime's
    quantizer only quantizes a MatMul whose weight is a graph initializer. Make each Constant
    tensor an initializer under its output name, and let consumers of an Identity of one read the
    initializer directly. Returns the model, changed in place."""
    import onnx

    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    outputs = {value.name for value in graph.output}
    kept, aliases = [], {}
    for node in graph.node:
        value = next((a for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and value is not None and value.type == onnx.AttributeProto.TENSOR:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value.t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            initializers.add(tensor.name)
        elif node.op_type == "Identity" and node.input[0] in initializers and node.output[0] not in outputs:
            aliases[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    for node in kept:
        node.input[:] = [aliases.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(kept)
    return model


def quantize_onnx(fp32_file, int8_file, calibration=None, vocab_file=None,
                  max_seq_len: int = CALIBRATION_MAX_SEQ_LEN) -> dict:
    """Write int8_file, the int8 version of the ONNX model fp32_file; returns what was done (for
    config.json). calibration: None for dynamic quantization, else a calibration file (static),
    whose texts are cut at max_seq_len tokens."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    import onnx

    fp32_file, int8_file = str(fp32_file), str(int8_file)
    onnx.save(constants_as_initializers(onnx.load(fp32_file)), fp32_file)
    if calibration is None:
        quantize_dynamic(fp32_file, int8_file, op_types_to_quantize=list(QUANTIZED_OPS),
                         weight_type=QuantType.QInt8, per_channel=False, reduce_range=False)
        return {"method": "onnxruntime quantize_dynamic", "weights": "QInt8", "activations": "QUInt8, per batch",
                "ops": list(QUANTIZED_OPS)}
    texts = read_calibration_texts(calibration)
    input_names = [value.name for value in onnx.load(fp32_file, load_external_data=False).graph.input]
    reader = _CalibrationBatches(texts, vocab_file, input_names, max_seq_len)
    quantize_static(fp32_file, int8_file, reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=False,
                    reduce_range=False)
    return {"method": "onnxruntime quantize_static (QDQ, MinMax)", "weights": "QInt8",
            "activations": "QUInt8, calibrated", "ops": list(QUANTIZED_OPS),
            "calibration_texts": len(texts), "calibration_file": os.path.basename(str(calibration))}
