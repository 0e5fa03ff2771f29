"""One fine-tuning run (one task, one seed) with the task's object (``tasks/``): encode, train
with AdamW (warmup, linear decay, global-norm clipping), predict dev and test, score, write
``result.json``."""
from __future__ import annotations

from pathlib import Path

import paddle

from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.modeling.bert import set_dropout
from paddle_wwm.tokenization import BertTokenizer

from .config import FinetuneConfig
from .readers import split_path, task_spec
from .tasks import get_task, model_inputs, run_model
from paddle_wwm.training import fit

RESULT_FILE = "result.json"
MODEL_DIR = "model"


def load_splits(config: FinetuneConfig) -> dict:
    """{split: examples} for the splits present in the data directory (train is required)."""
    task = get_task(config.task)
    splits = {}
    for split, name in task_spec(config.task).files.items():
        if split == "train" or (Path(config.data.dir) / name).is_file():
            splits[split] = task.read(split_path(config.task, config.data.dir, split))
    return splits


def training_features(config: FinetuneConfig):
    """(task object, {split: examples}, tokenizer, encoded training features, how many training
    examples the task cannot learn from)."""
    task = get_task(config.task)
    splits = load_splits(config)
    tokenizer = BertTokenizer()
    train_examples, dropped = task.trainable(splits["train"])
    return task, splits, tokenizer, task.encode(train_examples, tokenizer, config.data, training=True), dropped


def run_one(config: FinetuneConfig, seed: int, out_dir: Path, progress: bool = True) -> dict:
    """Fine-tune and evaluate with one seed; writes (with ``train.save_model`` also the model) and
    returns ``result.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    task, splits, tokenizer, train, dropped = training_features(config)
    paddle.seed(seed)
    model = task.build_model(config.model.name)
    if config.model.dropout is not None:
        set_dropout(model, config.model.dropout)

    def step_loss(indices):
        batch = task.batch(train, indices)
        return task.loss(model(*model_inputs(batch)), batch)

    stats = fit(model, len(train), step_loss, config, seed, progress)
    stats.update(task.train_stats(train, dropped))
    result = {"task": config.task, "seed": seed, "model": config.model.name, "train": stats}
    return score_and_save(model, task, splits, tokenizer, config, out_dir, result, config.train.save_model)


def score_and_save(model, task, splits: dict, tokenizer, config: FinetuneConfig, out_dir: Path, result: dict,
                   save_model: bool) -> dict:
    """Predict and score the dev and test splits into ``result`` (predictions-SPLIT.json beside
    it), save the model to ``out_dir/model`` when ``save_model``, write and return ``result.json``."""
    for split in ("dev", "test"):
        if split not in splits:
            continue
        examples = splits[split]
        features = task.encode(examples, tokenizer, config.data)
        outputs = run_model(model, task, features, config.train.eval_batch_size)
        predictions = task.predict(outputs, examples, features, config.data)
        write_json_atomic(out_dir / f"predictions-{split}.json", predictions)
        scores = task.score(predictions, split_path(config.task, config.data.dir, split))
        result[split] = {metric: scores[metric] for metric in task.metrics}
    if save_model:
        model.save_pretrained(out_dir / MODEL_DIR, overwrite=True)
        result["model_dir"] = MODEL_DIR
    write_json_atomic(out_dir / RESULT_FILE, result)  # last: a seed with this file is finished
    return result
