"""The teacher (a fine-tuned checkpoint, frozen) and the student (from scratch out of a model
config, or from a zoo model or checkpoint keeping chosen encoder layers, as RBT3 kept the first
three of RoBERTa-wwm-ext), each checked against the task and the other."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle

from paddle_wwm import store
from paddle_wwm.checkpoints.layouts import CONFIG_FILES, Checkpoint, read_checkpoint
from paddle_wwm.checkpoints.model_state import canonical_state
from paddle_wwm.modeling import BertConfig, BertModel

from .config import DistillError

_LAYER_PREFIX = "bert.layers."


def teacher_checkpoint(path) -> Checkpoint:
    """Read a teacher directory: a checkpoint, or a fine-tuning or distillation run directory
    holding one under ``model/``."""
    directory = Path(path)
    if not directory.is_dir():
        raise DistillError(f"{path}: teacher checkpoint directory not found")
    if not any((directory / name).is_file() for name in CONFIG_FILES) and (directory / "model").is_dir():
        directory = directory / "model"
    return read_checkpoint(directory)


def check_teacher_head(task, checkpoint: Checkpoint) -> None:
    """The teacher must carry the task's trained head, of the task's size."""
    state, source = checkpoint.state, checkpoint.source
    fix = "fine-tune it on the task first (paddle-wwm finetune ... train.save_model=true)"
    if task.kind == "classification":
        if "classifier.bias" not in state:
            raise DistillError(f"{source}: no classifier for {task.name} (an encoder without a task head): {fix}")
        classes = int(state["classifier.bias"].shape[0])
        if classes != len(task.labels):
            raise DistillError(f"{source}: the teacher's classifier has {classes} classes, {task.name} has "
                               f"{len(task.labels)} labels {list(task.labels)}")
        return
    if "qa_outputs.weight" not in state:
        raise DistillError(f"{source}: no span (question answering) head for {task.name}: {fix}")
    types = int(state["answer_type.bias"].shape[0]) if "answer_type.bias" in state else 0
    if types != task.answer_types:
        raise DistillError(f"{source}: the teacher's answer-type head has {types} types, {task.name} needs "
                           f"{task.answer_types}")


def load_teacher(task, path):
    """The teacher model in eval mode with every parameter frozen (no gradient is ever computed)."""
    checkpoint = teacher_checkpoint(path)
    check_teacher_head(task, checkpoint)
    teacher = task.build_model(checkpoint)
    teacher.eval()
    for param in teacher.parameters():
        param.stop_gradient = True
    return teacher, checkpoint


def select_layers(checkpoint: Checkpoint, layers: list[int]) -> Checkpoint:
    """The checkpoint with only ``layers`` (0-based, in the given order) of its encoder,
    renumbered 0.. ; embeddings, pooler and heads kept."""
    total = checkpoint.config.num_hidden_layers
    if not layers:
        raise DistillError(f"--init-layers: no layer chosen from {checkpoint.source}")
    if len(set(layers)) != len(layers) or not all(0 <= k < total for k in layers):
        raise DistillError(f"--init-layers {','.join(map(str, layers))}: need distinct layers in 0..{total - 1} "
                           f"({checkpoint.source} has {total})")
    renumber = {old: new for new, old in enumerate(layers)}
    state = {}
    for name, value in checkpoint.state.items():
        if not name.startswith(_LAYER_PREFIX):
            state[name] = value
            continue
        index, rest = name[len(_LAYER_PREFIX):].split(".", 1)
        if int(index) in renumber:
            state[f"{_LAYER_PREFIX}{renumber[int(index)]}.{rest}"] = value
    config = checkpoint.config.replace(num_hidden_layers=len(layers))
    return Checkpoint(config, state, checkpoint.source, checkpoint.layout, checkpoint.vocab_file,
                      checkpoint.architecture)


def _is_model_config_file(source: str) -> bool:
    path = Path(source)
    return path.is_file() and path.suffix == ".json"


def student_checkpoint(source: str, init_layers: list[int] | None, seed: int) -> Checkpoint:
    """What the student starts from: a model config .json (random weights drawn with ``seed``),
    or a zoo name / checkpoint directory, cut to ``init_layers`` when given."""
    if _is_model_config_file(source):
        if init_layers is not None:
            raise DistillError(f"--init-layers needs a checkpoint to take layers from; {source} is a model config")
        config = BertConfig.from_file(source)
        paddle.seed(seed)
        state = canonical_state(BertModel(config))
        return Checkpoint(config, state, Path(source), "paddle_wwm", None, "BertModel")
    checkpoint = read_checkpoint(store.resolve(source))
    return select_layers(checkpoint, init_layers) if init_layers is not None else checkpoint


def _vocab_lines(path) -> list[str] | None:
    return Path(path).read_text(encoding="utf-8").splitlines() if path and Path(path).is_file() else None


def check_same_vocabulary(teacher: Checkpoint, student: Checkpoint) -> None:
    """Teacher and student read the same token ids: same vocabulary size, same vocab file where
    both checkpoints carry one."""
    if teacher.config.vocab_size != student.config.vocab_size:
        raise DistillError(f"vocabularies differ: the teacher {teacher.source} has {teacher.config.vocab_size} "
                           f"tokens, the student {student.source} {student.config.vocab_size}")
    teacher_vocab, student_vocab = _vocab_lines(teacher.vocab_file), _vocab_lines(student.vocab_file)
    if teacher_vocab is not None and student_vocab is not None and teacher_vocab != student_vocab:
        differ = next(i for i, (a, b) in enumerate(zip(teacher_vocab, student_vocab)) if a != b)
        raise DistillError(f"vocabularies differ: {teacher.vocab_file} and {student.vocab_file} first differ "
                           f"at line {differ + 1} ({teacher_vocab[differ]!r} vs {student_vocab[differ]!r})")


def check_layer_map(pairs: list[list[int]], key: str, student_layers: int, teacher_layers: int,
                    first: int) -> None:
    """Each [student, teacher] pair must name layers the models have (``first``: 0 for hidden
    states, whose 0 is the embedding output; 1 for attention)."""
    for student, teacher in pairs:
        if not (first <= student <= student_layers and first <= teacher <= teacher_layers):
            raise DistillError(f"distill.{key}: pair [{student}, {teacher}] is out of range: the student has "
                               f"layers {first}..{student_layers}, the teacher {first}..{teacher_layers}")


def parameter_counts(model) -> dict:
    """Parameters of a task model: total, and without the word-embedding table (which dominates a
    small model: 21,128 rows)."""
    total = sum(int(np.prod(p.shape)) for p in model.parameters())
    words = int(np.prod(model.bert.embeddings.word_embeddings.weight.shape))
    return {"total": total, "without_word_embeddings": total - words}
