"""Pre-training, top to bottom: build, (resume), then the shared step loop of
:mod:`paddle_wwm.training.loop` (accumulate micro-batches, clip, update) with logging and
checkpoints after its steps; at the end write the MLM-capable model.

One process or N under ``python -m paddle.distributed.launch`` (fleet data parallelism); the
global batch, the data each step sees and the masks are the same for any N (see
:mod:`paddle_wwm.training.batches`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import paddle

from paddle_wwm import zoo
from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.modeling import BertConfig, BertForPretraining
from paddle_wwm.modeling.bert import set_dropout
from paddle_wwm.modeling.heads import train_only_mlm_head
from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.training.batches import GlobalBatches
from paddle_wwm.training.loop import optimizer_steps, progress_bar
from paddle_wwm.training.optimizer import build_optimizer
from paddle_wwm.wwm.dataset import WWMCollator, WWMDataset
from paddle_wwm.wwm.prepare import vocab_md5

from .checkpoint import ResumeError, finished_checkpoints, load_checkpoint, save_checkpoint
from .config import PretrainConfig, PretrainConfigError
from .distributed import Context, gpu_available, init_context
from .loss import pretraining_loss
from .metrics import LOG_FILE, MetricsLog
from .watchdog import TrainingHooks

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
# Keys a resumed run may change: how long it runs and how it reports, not what it computes.
RESUMABLE_CHANGES = {("train", "max_steps"), ("train", "save_steps"), ("train", "keep_checkpoints"),
                     ("train", "log_steps"), ("train", "output_dir"), ("train", "stall_timeout")}
_STAT_KEYS = ("mlm_loss_sum", "mlm_correct", "mlm_count", "nsp_loss_sum", "nsp_correct", "nsp_count", "tokens")


def resolve_precision(requested: str) -> str:
    """fp32 on CPU; on GPU bf16 where the device has it (compute capability 8+), else fp16."""
    if not gpu_available():
        if requested in ("bf16", "fp16"):
            raise PretrainConfigError(f"train.precision: {requested} mixed precision needs a GPU; "
                                      "on CPU use fp32 (or auto)")
        return "fp32"
    if requested != "auto":
        return requested
    major, _ = paddle.device.cuda.get_device_capability()
    return "bf16" if major >= 8 else "fp16"


def model_config(config: PretrainConfig) -> BertConfig:
    """The architecture of a randomly initialised model: a zoo name, a config file or directory."""
    name = config.model.name
    if zoo.canonical_name(name) is not None:
        base = zoo.zoo_config(name)
    elif Path(name).is_file():
        base = BertConfig.from_file(name)
    elif (Path(name) / "config.json").is_file():
        base = BertConfig.from_file(Path(name) / "config.json")
    else:
        raise PretrainConfigError(f"{config.source}: model.name: {name!r} is neither a zoo name nor a "
                                  "model config file or directory")
    changes = dict(config.model.overrides)
    if config.model.dropout is not None:
        changes.update(hidden_dropout_prob=config.model.dropout, attention_probs_dropout_prob=config.model.dropout)
    try:
        return base.replace(**changes) if changes else base
    except (TypeError, ValueError) as error:
        raise PretrainConfigError(f"{config.source}: model.overrides: {error}") from None


def build_model(config: PretrainConfig) -> BertForPretraining:
    m = config.model
    if m.init_from is not None:
        model = BertForPretraining.from_pretrained(m.init_from, num_hidden_layers=m.init_layers, with_nsp=config.data.nsp)
        if m.dropout is not None:  # the weights fix the architecture, not the dropout
            set_dropout(model, m.dropout)
    else:
        model = BertForPretraining(model_config(config), with_nsp=config.data.nsp)
    model.bert.recompute = m.recompute
    if m.train_only == "mlm_head":
        train_only_mlm_head(model)
    model.train()
    return model


def check_vocabulary(model: BertForPretraining, data_settings: dict, tokenizer: BertTokenizer, source: str) -> None:
    data_md5 = data_settings.get("vocab_md5")
    ours = vocab_md5(tokenizer.vocab)
    if data_md5 != ours:
        raise PretrainConfigError(f"{source}: data.dir was prepared with another vocabulary (md5 {data_md5}) than "
                                  f"{tokenizer.vocab_file} (md5 {ours})")
    if model.config.vocab_size != len(tokenizer.vocab):
        raise PretrainConfigError(f"{source}: the model has vocab_size {model.config.vocab_size} but the data's "
                                  f"vocabulary has {len(tokenizer.vocab)} tokens")


def _params_digest(model) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(param.numpy()).tobytes())
    return digest.hexdigest()


def _check_resume_config(saved: dict, current: dict, output_dir: Path) -> None:
    changed = [f"{section}.{key}" for section in current for key in current[section]
               if (section, key) not in RESUMABLE_CHANGES and saved.get(section, {}).get(key) != current[section][key]]
    if changed:
        raise ResumeError(f"{output_dir}: the run was started with other settings ({', '.join(changed)}): an exact "
                          "resume needs the same ones; only train.max_steps, save_steps, keep_checkpoints and "
                          "log_steps may change")


def pretrain(config: PretrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run (or with ``resume`` continue) the recipe; returns the summary written to SUMMARY_FILE."""
    # The optimizer state is keyed by Paddle's generated names ("linear_3.w_0_moment1_0"), whose
    # counters live in the process: a fresh name generator for the whole run makes them the same
    # in every run, so a checkpoint loads into a resumed run even within one process.
    with paddle.utils.unique_name.guard():
        return _pretrain(config, resume, progress)


def _pretrain(config: PretrainConfig, resume: bool, progress: bool) -> dict:
    ctx = init_context()
    hooks = TrainingHooks(ctx)  # heartbeats to a supervising launcher; stop requests from it or signals
    precision = resolve_precision(config.train.precision)
    output_dir = Path(config.train.output_dir)
    existing = finished_checkpoints(output_dir)
    if not resume and (existing or (output_dir / LOG_FILE).exists()):
        raise PretrainConfigError(f"{output_dir} already holds a run: pass --resume to continue it, or choose "
                                  "another train.output_dir (nothing there is overwritten)")
    config.accumulation_steps(ctx.world_size)  # the error, before any work, if the global batch does not divide

    tokenizer = BertTokenizer()
    wwm_config = config.data.wwm_config(seed=config.train.seed)
    dataset = WWMDataset(config.data.dir, wwm_config)
    pad_to = config.data.max_seq_len if ctx.device == "gpu" else None  # static shapes for GPU kernels
    collator = WWMCollator(wwm_config, tokenizer.vocab, pad_to=pad_to, return_tensors="pd")

    def epoch_length(epoch: int) -> int:
        dataset.set_epoch(epoch)
        return len(dataset)

    batches = GlobalBatches(len(dataset), config.train.global_batch_size, config.train.micro_batch_size,
                            ctx.world_size, ctx.rank, config.train.seed, epoch_length)

    paddle.seed(config.train.seed)  # the same initial weights on every rank
    model = build_model(config)
    check_vocabulary(model, dataset.manifest["settings"], tokenizer, config.source)
    optimizer, scheduler = build_optimizer(model, config.optimizer, config.train.max_steps,
                                           multi_precision=precision != "fp32")
    paddle.seed(config.train.seed + 1 + ctx.rank)  # dropout: its own stream on each rank
    scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if precision == "fp16" else None

    start_step = 0
    log = MetricsLog(output_dir, enabled=ctx.is_main)
    if resume and existing:
        saved_config = json.loads((output_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        _check_resume_config(saved_config, config.to_dict(), output_dir)
        state = load_checkpoint(existing[-1][1], model, optimizer, rank=ctx.rank, world_size=ctx.world_size)
        start_step = state["step"]
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        log.truncate_after(start_step)
    elif ctx.is_main:
        log.truncate_after(0)  # a resumed run that never reached a checkpoint starts over
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=1) + "\n", encoding="utf-8")
    ctx.barrier()

    train_model, train_optimizer, no_sync = model, optimizer, None
    if ctx.world_size > 1:
        from paddle.distributed import fleet

        train_model = fleet.distributed_model(model)
        train_optimizer = fleet.distributed_optimizer(optimizer)
        no_sync = train_model.no_sync
        if scaler is not None:
            scaler = fleet.distributed_scaler(scaler)
    amp_dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(precision)

    def micro_batches(step: int) -> list[np.ndarray]:
        hooks.step_started(step)  # called once at the start of each step
        dataset.set_epoch(batches.epoch_of(step))
        return batches.micro_batches(step)

    def loss_and_stats(indices: np.ndarray) -> tuple[paddle.Tensor, paddle.Tensor]:
        batch = collator([dataset[int(i)] for i in indices])
        with paddle.amp.auto_cast(enable=amp_dtype is not None, dtype=amp_dtype or "float16", level="O1"):
            mlm_logits, nsp_logits = train_model(batch["input_ids"], batch["token_type_ids"],
                                                 batch["attention_mask"], masked_positions=batch["masked_positions"])
        loss, stats = pretraining_loss(mlm_logits, nsp_logits, batch["masked_labels"],
                                       batch.get("next_sentence_label"))
        stats["tokens"] = batch["attention_mask"].sum().astype("float32")
        return loss, paddle.stack([stats[key] for key in _STAT_KEYS])

    bar = None
    if progress and ctx.is_main:
        bar = progress_bar(config.train.max_steps, "pretrain", initial=start_step)
    window = np.zeros(len(_STAT_KEYS))
    window_start, window_steps = time.perf_counter(), 0
    stopped_at = None
    steps = range(start_step, config.train.max_steps)
    for update in optimizer_steps(train_optimizer, scheduler, micro_batches, loss_and_stats, steps,
                                  scaler=scaler, no_sync=no_sync):
        done, epoch = update.step, batches.epoch_of(update.step - 1)
        window += ctx.all_reduce_sum(update.stats).numpy()
        window_steps += 1
        if done % config.train.log_steps == 0 or done == config.train.max_steps:
            elapsed = time.perf_counter() - window_start
            record = _scalars(window, window_steps, elapsed, done, epoch, update.learning_rate)
            log.write(record)
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.4f}", mlm_acc=f"{record['mlm_accuracy']:.3f}")
            window[:] = 0
            window_start, window_steps = time.perf_counter(), 0
        if bar is not None:
            bar.update(1)
        stop = hooks.stop_requested(done)  # the same answer on every rank
        if stop or done % config.train.save_steps == 0 or done == config.train.max_steps:
            trainer_state = {"epoch": epoch, "precision": precision}
            if scaler is not None:
                trainer_state["scaler"] = {k: (v.item() if hasattr(v, "item") else v)
                                           for k, v in scaler.state_dict().items()}
            save_checkpoint(output_dir, done, model, optimizer, trainer_state, rank=ctx.rank,
                            world_size=ctx.world_size, keep=config.train.keep_checkpoints, barrier=ctx.barrier,
                            vocab_file=tokenizer.vocab_file, gather=ctx.all_gather_object)
        if stop:
            stopped_at = done
            break
    if bar is not None:
        bar.close()
    log.close()
    if stopped_at is not None:  # asked to stop: the checkpoint of this step is written, no final model
        return {"steps": stopped_at, "stopped_at": stopped_at, "world_size": ctx.world_size, "precision": precision}
    return _finish(model, ctx, output_dir, config, precision, tokenizer)


def _scalars(window: np.ndarray, steps: int, elapsed: float, step: int, epoch: int, learning_rate: float) -> dict:
    s = dict(zip(_STAT_KEYS, window.tolist()))
    mlm_loss = s["mlm_loss_sum"] / max(s["mlm_count"], 1)
    record = {"step": step, "epoch": epoch, "loss": mlm_loss, "mlm_loss": mlm_loss,
              "mlm_accuracy": s["mlm_correct"] / max(s["mlm_count"], 1), "learning_rate": learning_rate,
              "tokens_per_second": s["tokens"] / max(elapsed, 1e-9), "seconds_per_step": elapsed / max(steps, 1)}
    if s["nsp_count"]:
        record["nsp_loss"] = s["nsp_loss_sum"] / s["nsp_count"]
        record["nsp_accuracy"] = s["nsp_correct"] / s["nsp_count"]
        record["loss"] = mlm_loss + record["nsp_loss"]
    return record


def _finish(model, ctx: Context, output_dir: Path, config: PretrainConfig, precision: str, tokenizer) -> dict:
    """Check that all ranks hold the same weights, write the final model and the summary."""
    digests = ctx.all_gather_object(_params_digest(model))
    summary = {"steps": config.train.max_steps, "world_size": ctx.world_size, "precision": precision,
               "ranks_in_sync": len(set(digests)) == 1, "rank_param_sha256": digests}
    if ctx.is_main:
        final = output_dir / "final"
        model.save_pretrained(final, overwrite=True, vocab_file=tokenizer.vocab_file)
        summary["final_model"] = str(final)
        write_json_atomic(output_dir / SUMMARY_FILE, summary)
    ctx.barrier()
    if not summary["ranks_in_sync"]:
        raise RuntimeError(f"ranks ended with different weights: {digests}")
    return summary
