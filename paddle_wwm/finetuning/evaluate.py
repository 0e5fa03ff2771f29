"""`paddle-wwm evaluate`: score a predictions file (JSON {id: answer or label}, as finetune writes
them) against a task's data file: the official EM / F1 for the reading-comprehension tasks,
accuracy for the classification tasks (a missing prediction counts as wrong)."""
from __future__ import annotations

from .json_data import DataError, load_json
from .readers import read_examples, task_spec


def load_label_predictions(path) -> dict[str, str]:
    predictions = load_json(path, "predictions file")
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise DataError(f"{path}: expected a JSON object {{id: label}}")
    return predictions


def evaluate_predictions(task: str, data, predictions) -> dict:
    spec = task_spec(task)
    if spec.kind == "span":
        from .mrc_metric import evaluate_files

        return evaluate_files(task, data, predictions)
    examples = read_examples(task, data).examples
    predicted = load_label_predictions(predictions)
    unknown = sorted({v for v in predicted.values() if v not in spec.labels})
    if unknown:
        raise DataError(f"{predictions}: labels {unknown[:5]} are not labels of {task} {list(spec.labels)}")
    labelled = [e for e in examples if e.label is not None]
    correct = sum(predicted.get(e.guid) == spec.labels[e.label] for e in labelled)
    return {"accuracy": 100.0 * correct / max(1, len(labelled)), "total": len(labelled),
            "missing": sum(e.guid not in predicted for e in labelled)}

