"""``paddle-wwm restore-mlm-head MODEL --corpus TEXT --out DIR``: train the MLM head the released
weights lack, on any text, with everything else frozen.

The head is a dense layer, a LayerNorm and an output bias; its decoder is the word-embedding
table, which the release carries (the maintainers' advice in Chinese-BERT-wwm #111). So the
encoder and the embeddings stay exactly as released (``stop_gradient``) and only the head learns,
by whole word masking on the corpus: the corpus goes through ``prepare`` and the head through
``pretrain`` itself (recipe ``model.train_only=mlm_head``), with its checkpoints and exact resume.

Work goes into ``DIR.restore-run/`` beside the output: the prepared corpus, the encoder it
starts from and the run's checkpoints. An interrupted restoration continues from there with
``--resume``; once finished, the model is moved into ``DIR`` whole (a normal checkpoint in our
layout, the head included) and the work directory removed.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from paddle_wwm.atomic_files import write_dir_atomic, write_json_atomic
from paddle_wwm.errors import InvalidInputError, PaddleWwmError
from paddle_wwm.wwm.corpus import BadLines, read_documents

from .mlm_head import HeadAlreadyTrainedError, described, has_trained_head

SUMMARY_FILE = "restore_mlm_head.json"
CHECK_SENTENCES = 2000  # sentences of each corpus file the tokenizer is tried on
MAX_UNKNOWN = 0.5  # more [UNK] tokens than this: the vocabulary cannot read the file


class CorpusError(PaddleWwmError, ValueError):
    """A corpus file the tokenizer cannot read, or a corpus too small; the message names it."""


class RestoreRunError(PaddleWwmError, ValueError):
    """An interrupted restoration is in the way, or cannot be resumed."""


@dataclass
class RestoreSettings:
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_seq_len: int = 128  # capped at the model's positions
    save_steps: int = 50
    seed: int = 12345
    segmenter: str = "jieba"
    workers: int = 1

    def __post_init__(self):
        for name in ("steps", "batch_size", "max_seq_len", "save_steps", "workers"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"learning_rate must be positive, got {self.learning_rate}")


def run_dir_of(out) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".restore-run")


def corpus_files(corpus) -> list[str]:
    """A file, or every file under a directory (recursively, hidden ones skipped, sorted)."""
    path = Path(corpus)
    if path.is_file():
        return [str(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: corpus not found (give a text file or a directory of them)")
    files = sorted(str(p) for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise CorpusError(f"{path}: the corpus directory holds no files")
    return files


def check_corpus(files: list[str], tokenizer) -> None:
    """Each file must give text that the tokenizer reads: decodable lines, mostly known tokens."""
    for file in files:
        bad = BadLines()
        sentences = []
        for document in read_documents([file], bad):
            sentences += document.sentences
            if len(sentences) >= CHECK_SENTENCES:
                break
        if not sentences:
            problems = "; ".join(bad.examples[:3]) or "no text in it"
            raise CorpusError(f"{file}: the tokenizer cannot read this corpus file: {problems}")
        ids = [i for encoded, _ in tokenizer.encode_plain(sentences) for i in encoded]
        unknown = sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)
        if unknown > MAX_UNKNOWN:
            raise CorpusError(f"{file}: the tokenizer cannot read this corpus file: {unknown:.0%} of its tokens "
                              f"are {tokenizer.unk_token} (not in {tokenizer.vocab_file}); is it the right text?")


def _starting_point(checkpoint, directory: Path) -> Path:
    """The encoder the head is trained on: the checkpoint without any head, in our layout."""
    from paddle_wwm.checkpoints.layouts import write_checkpoint

    if not (directory / "config.json").is_file():
        state = {k: v for k, v in checkpoint.state.items() if k.startswith("bert.")}
        write_checkpoint(dataclasses.replace(checkpoint, state=state, architecture="BertModel"), directory,
                         overwrite=True)
    return directory


def _recipe(settings: RestoreSettings, init: Path, data: Path, output_dir: Path, max_seq_len: int):
    from paddle_wwm.training.optimizer_config import OptimizerSection

    from .config import DataSection, ModelSection, PretrainConfig, TrainSection, validate

    config = PretrainConfig(
        # no dropout: the frozen encoder's features are the ones fill-mask will see
        model=ModelSection(name=str(init), init_from=str(init), dropout=0.0, train_only="mlm_head"),
        data=DataSection(dir=str(data), max_seq_len=max_seq_len, nsp=False, masking="dynamic"),
        optimizer=OptimizerSection(name="adamw", learning_rate=settings.learning_rate,
                                   warmup_steps=max(1, settings.steps // 10), weight_decay=0.01, max_grad_norm=1.0),
        train=TrainSection(output_dir=str(output_dir), max_steps=settings.steps,
                           global_batch_size=settings.batch_size, micro_batch_size=settings.batch_size,
                           precision="fp32", seed=settings.seed, save_steps=settings.save_steps,
                           keep_checkpoints=1, log_steps=10),
        source="restore-mlm-head")
    validate(config)
    return config


def _check_size(data: Path, config, corpus) -> None:
    from paddle_wwm.wwm.dataset import WWMDataset

    sequences = len(WWMDataset(data, config.data.wwm_config(seed=config.train.seed)))
    if sequences < config.train.global_batch_size:
        raise CorpusError(f"{corpus}: too little text: {sequences} sequences of up to {config.data.max_seq_len} "
                          f"tokens, fewer than one batch of {config.train.global_batch_size}; give more text "
                          "or a smaller --batch-size")


def restore_mlm_head(model, corpus, out, settings: RestoreSettings | None = None, *, overwrite: bool = False,
                     resume: bool = False, progress: bool = True) -> dict:
    """Train a new MLM head for ``model`` (zoo name, alias or directory) on ``corpus`` (a file or
    a directory of them) with everything else frozen; write the model to ``out``. Returns the
    summary (also written to ``out/restore_mlm_head.json``)."""
    from paddle_wwm import store
    from paddle_wwm.checkpoints.layouts import read_checkpoint
    from paddle_wwm.pretraining.metrics import read_log
    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    from .trainer import pretrain

    settings = settings or RestoreSettings()
    out, run_dir = Path(out), run_dir_of(out)
    if out.exists() and any(out.iterdir()) and not overwrite:  # before any work
        raise FileExistsError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    if run_dir.exists() and not resume:
        if not overwrite:
            raise RestoreRunError(f"{run_dir} holds an interrupted restoration: pass --resume to continue it, "
                                  "or --overwrite to start over")
        shutil.rmtree(run_dir)
    source = store.resolve(model)
    checkpoint = read_checkpoint(source)
    if has_trained_head(checkpoint.state) and not overwrite:
        raise HeadAlreadyTrainedError(f"{described(model, source)} already has a trained MLM head: fill-mask works on it "
                                      "as it is; pass --overwrite to train a new head in its place")
    files = corpus_files(corpus)
    tokenizer = BertTokenizer(checkpoint.vocab_file)
    check_corpus(files, tokenizer)

    started, cpu_started = time.perf_counter(), _cpu_seconds()
    max_seq_len = min(settings.max_seq_len, checkpoint.config.max_position_embeddings)
    data, fresh = run_dir / "data", not run_dir.exists()
    prepare(PrepareSettings(files, segmenter=settings.segmenter, max_seq_len=max_seq_len,
                            vocab_file=checkpoint.vocab_file and str(checkpoint.vocab_file)),
            data, workers=settings.workers, progress=progress)
    init = _starting_point(checkpoint, run_dir / "init")
    config = _recipe(settings, init, data, run_dir / "train", max_seq_len)
    try:
        _check_size(data, config, corpus)
    except CorpusError:
        if fresh:  # nothing to resume: leave no work directory behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    with warnings.catch_warnings():  # the head is missing on purpose: it is what this trains
        warnings.filterwarnings("ignore", message=".*has no MLM head", category=UserWarning)
        pretrain(config, resume=(run_dir / "train").exists(), progress=progress)
    log = read_log(run_dir / "train")
    summary = {"model": str(model), "source": str(source), "corpus": files, "steps": settings.steps,
               "settings": dataclasses.asdict(settings), "max_seq_len": max_seq_len,
               "first_mlm_loss": log[0]["mlm_loss"], "last_mlm_loss": log[-1]["mlm_loss"],
               "last_mlm_accuracy": log[-1]["mlm_accuracy"],
               "seconds_this_run": round(time.perf_counter() - started, 1),
               "cpu_seconds_this_run": round(_cpu_seconds() - cpu_started, 1)}
    final = run_dir / "train" / "final"

    def move_model(directory: Path) -> None:
        for item in final.iterdir():
            os.replace(item, directory / item.name)
        write_json_atomic(directory / SUMMARY_FILE, summary)

    write_dir_atomic(out, move_model, overwrite=overwrite)
    shutil.rmtree(run_dir, ignore_errors=True)
    return summary


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (prepare's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
