"""`paddle-wwm evaluate`: score a predictions file (JSON {id: answer or label}, as finetune writes
them) against a task's data file: the official EM / F1 for the reading-comprehension tasks,
accuracy for the classification tasks (a missing prediction counts as wrong)."""
from __future__ import annotations

from .tasks import get_task


def evaluate_predictions(task: str, data, predictions) -> dict:
    """The scores of the predictions file ``predictions`` on the data file ``data`` of ``task``."""
    task_object = get_task(task)
    return task_object.score(task_object.load_predictions(predictions), data)
