"""Task objects: what fine-tuning and the PaddleHub module do per task (``base.Task``), one module
per kind of task, and the registry of the benchmark tasks. A task of a kind that exists is added
in ``readers.TASKS`` alone (its files and labels); a new kind adds a module here and its line in
``_task_object``."""
from __future__ import annotations

from paddle_wwm.finetuning.readers import TaskSpec, task_spec

from .base import Task, model_inputs, run_model
from .classification import ClassificationTask
from .span import AnswerTypeSpanTask, SpanTask


def _task_object(name: str, spec: TaskSpec) -> Task:
    if spec.kind == "classification":
        return ClassificationTask(name, spec.labels)
    return AnswerTypeSpanTask(name) if len(spec.answer_types) > 1 else SpanTask(name)


def get_task(name: str) -> Task:
    """The task object of a benchmark task of ``readers.TASKS`` (ValueError naming the tasks
    for an unknown name)."""
    return _task_object(name, task_spec(name))


__all__ = ["Task", "ClassificationTask", "SpanTask", "AnswerTypeSpanTask", "get_task", "model_inputs", "run_model"]
