"""`paddle-wwm distill`: the loss pieces checked by hand (numpy) and against torch's KL, the
encoder's captured hidden states and attention, the teacher frozen, a student taking chosen
teacher layers, a run through the command line whose checkpoint and predictions load like a
fine-tuned model's, a span task's soft targets, and the errors for bad teachers, students and maps."""
import json
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from benchmark_run import run_quick
from conftest import TINY, padded_batch, require_reference
from paddle_wwm.cli import main
from paddle_wwm.distillation.config import DistillError, load_distill_config
from paddle_wwm.distillation.losses import attention_loss, hidden_mse, mix_hard_and_soft, soft_target_loss
from paddle_wwm.distillation.models import select_layers, student_checkpoint
from paddle_wwm.distillation.run import build_models, distillation_loss
from paddle_wwm.checkpoints.layouts import read_checkpoint
from paddle_wwm.finetuning.tasks import get_task
from paddle_wwm.modeling import (BertConfig, BertForQuestionAnswering, BertForSequenceClassification,
                                 BertModel)
from paddle_wwm.modeling.bert import capture_intermediates

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "finetuning" / "chnsenticorp"
NO_DROPOUT = dict(TINY, max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="module", autouse=True)
def _cpu_configured_before_the_first_matmul():
    from paddle_wwm import runtime

    runtime.maybe_configure_cpu()  # what building a model does; torch's and paddle's GEMMs come after


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def t(array):
    return paddle.to_tensor(np.asarray(array, dtype=np.float32))


# -- the loss pieces by hand ---------------------------------------------------------------------
STUDENT_LOGITS = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
TEACHER_LOGITS = [[2.0, 0.0, 1.0], [1.0, 1.0, 4.0]]


def test_soft_target_loss_is_kl_at_the_temperature_times_its_square():
    temperature = 2.0
    p = np_softmax(np.asarray(TEACHER_LOGITS) / temperature)
    q = np_softmax(np.asarray(STUDENT_LOGITS) / temperature)
    by_hand = np.mean(np.sum(p * np.log(p / q), axis=1)) * temperature ** 2
    got = float(soft_target_loss(t(STUDENT_LOGITS), t(TEACHER_LOGITS), temperature))
    assert got == pytest.approx(by_hand, rel=1e-5)
    assert float(soft_target_loss(t(TEACHER_LOGITS), t(TEACHER_LOGITS), temperature)) == pytest.approx(0, abs=1e-6)


def test_soft_target_loss_matches_torch_kl_div():
    torch = require_reference("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    student, teacher = rng.normal(size=(5, 4)) * 3, rng.normal(size=(5, 4)) * 3
    for temperature in (1.0, 4.0, 8.0):
        reference = F.kl_div(F.log_softmax(torch.tensor(student) / temperature, dim=-1),
                             F.softmax(torch.tensor(teacher) / temperature, dim=-1),
                             reduction="batchmean") * temperature ** 2
        got = float(soft_target_loss(t(student), t(teacher), temperature))
        assert got == pytest.approx(float(reference), rel=1e-4)


def test_alpha_mixes_labels_and_teacher():
    assert float(mix_hard_and_soft(t(0.8), t(0.2), 0.25)) == pytest.approx(0.25 * 0.8 + 0.75 * 0.2)
    assert float(mix_hard_and_soft(t(0.8), t(0.2), 0.0)) == pytest.approx(0.2)


def test_soft_targets_of_a_span_leave_the_padding_out():
    """Start (or end) logits over positions: with the last two positions padding, the loss is the
    one of the real positions alone, whatever the logits at the padding."""
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    noisy_student, noisy_teacher = student.copy(), teacher.copy()
    noisy_student[0, 4:], noisy_teacher[0, 4:] = 50.0, -30.0
    masked = float(soft_target_loss(t(noisy_student), t(noisy_teacher), 3.0, paddle.to_tensor(mask)))
    rows = []
    for row, length in enumerate((4, 6)):
        p, q = np_softmax(teacher[row, :length] / 3.0), np_softmax(student[row, :length] / 3.0)
        rows.append(np.sum(p * np.log(p / q)))
    assert masked == pytest.approx(np.mean(rows) * 9.0, rel=1e-5)


def test_hidden_mse_over_real_tokens_with_a_projection():
    rng = np.random.default_rng(1)
    student, teacher = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 4))
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    projection = paddle.nn.Linear(2, 4)
    weight, bias = rng.normal(size=(2, 4)), rng.normal(size=4)
    projection.weight.set_value(t(weight))
    projection.bias.set_value(t(bias))
    projected = student @ weight + bias
    squares = ((projected - teacher) ** 2).sum(-1)
    by_hand = (squares * mask).sum() / (mask.sum() * 4)
    assert float(hidden_mse(t(student), t(teacher), paddle.to_tensor(mask), projection)) == pytest.approx(by_hand, rel=1e-5)
    with pytest.raises(ValueError, match="hidden sizes differ"):
        hidden_mse(t(student), t(teacher), paddle.to_tensor(mask))


def _attention(rng, batch, heads, seq, lengths):
    scores = rng.normal(size=(batch, heads, seq, seq))
    for row, length in enumerate(lengths):
        scores[row, :, :, length:] = -np.inf  # padded keys get probability 0, as in the encoder
    return np_softmax(scores)


def test_attention_loss_mse_and_kl_by_hand():
    rng = np.random.default_rng(2)
    lengths, seq = (3, 4), 4
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])
    student, teacher = _attention(rng, 2, 2, seq, lengths), _attention(rng, 2, 2, seq, lengths)
    rows = mask[:, None, :]
    mse = ((student - teacher) ** 2).sum(-1) / seq
    assert float(attention_loss(t(student), t(teacher), paddle.to_tensor(mask), "mse")) == pytest.approx(
        (mse * rows).sum() / (mask.sum() * 2), rel=1e-5)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nansum(np.where(teacher > 0, teacher * np.log(teacher / student), 0.0), axis=-1)
    assert float(attention_loss(t(student), t(teacher), paddle.to_tensor(mask), "kl")) == pytest.approx(
        (kl * rows).sum() / (mask.sum() * 2), rel=1e-5)
    # 4 teacher heads against 2 student heads: the head means are compared
    wide = _attention(rng, 2, 4, seq, lengths)
    mean_mse = ((student.mean(1) - wide.mean(1)) ** 2).sum(-1) / seq
    assert float(attention_loss(t(student), t(wide), paddle.to_tensor(mask), "mse")) == pytest.approx(
        (mean_mse * mask).sum() / mask.sum(), rel=1e-5)


# -- the encoder's intermediates -------------------------------------------------------------------
def test_captured_hidden_states_and_attention_leave_the_outputs_unchanged():
    paddle.seed(0)
    model = BertModel(BertConfig(**NO_DROPOUT))
    model.eval()
    inputs = [paddle.to_tensor(a) for a in padded_batch()]
    plain = model(*inputs)
    with capture_intermediates(model, attentions=True) as seen:
        captured = model(*inputs)
    assert np.array_equal(plain[0].numpy(), captured[0].numpy())
    assert len(seen.hidden_states) == 3 and len(seen.attentions) == 2
    assert np.array_equal(seen.hidden_states[-1].numpy(), plain[0].numpy())
    probs = seen.attentions[0].numpy()  # [batch, heads, seq, seq]
    assert probs.shape == (3, 4, 16, 16) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    assert np.all(probs[2, :, :, 5:] < 1e-20)  # the third row has 5 real tokens
    assert model.captured is None and all(layer.attention.captured_probs is None for layer in model.layers)


# -- teacher, student, a run ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    """A tiny 2-class classifier (as fine-tuning saves one) with distinct weights in every layer."""
    paddle.seed(1)
    out = tmp_path_factory.mktemp("teacher") / "model"
    BertForSequenceClassification(BertConfig(**dict(NO_DROPOUT, num_hidden_layers=3)), num_classes=2).save_pretrained(out)
    return out


@pytest.fixture
def student_config(tmp_path):
    path = tmp_path / "student.json"
    path.write_text(json.dumps(dict(NO_DROPOUT, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                                    num_hidden_layers=1)))
    return path


def _config(tmp_path, teacher, student, *overrides):
    data = tmp_path / "data"
    if not data.exists():
        shutil.copytree(FIXTURES, data)
    return load_distill_config("chnsenticorp", None, [
        f"data.dir={data}", f"model.name={student}", f"distill.teacher={teacher}", f"train.output_dir={tmp_path / 'out'}",
        "data.max_seq_len=32", "train.batch_size=4", "train.epochs=2", "optimizer.learning_rate=1e-2", *overrides])


def test_the_teacher_stays_frozen_while_the_student_learns(tmp_path, tiny_teacher, student_config):
    from paddle_wwm.finetuning.one_run import training_features
    from paddle_wwm.training import fit

    config = _config(tmp_path, tiny_teacher, student_config, "distill.hidden_weight=1",
                     "distill.hidden_layer_map=[[0, 0], [1, 3]]", "distill.attention_weight=1",
                     "distill.attention_layer_map=[[1, 2]]", "model.dropout=0.1")
    task, _, _, train, _ = training_features(config)
    teacher, trained = build_models(config, task, seed=1)
    assert len(trained.projections) == 2  # 16 -> 32 for each matched pair
    before = {n: p.numpy().copy() for n, p in teacher.named_parameters()}
    student_before = {n: p.numpy().copy() for n, p in trained.named_parameters()}

    def step_loss(indices):
        loss, parts = distillation_loss(task, config.distill, teacher, trained, task.batch(train, indices))
        assert set(parts) == {"hard", "soft", "hidden", "attention"}
        return loss

    fit(trained, len(train), step_loss, config, seed=1, progress=False)
    for name, param in teacher.named_parameters():
        assert param.stop_gradient and param.grad is None
        assert np.array_equal(param.numpy(), before[name]), name
    assert not teacher.training  # no dropout in the teacher's targets
    changed = [n for n, p in trained.named_parameters() if not np.array_equal(p.numpy(), student_before[n])]
    assert any(n.startswith("projections.") for n in changed) and any(n.startswith("student.bert.") for n in changed)


def test_the_loss_adds_its_weighted_parts(tmp_path, tiny_teacher, student_config):
    config = _config(tmp_path, tiny_teacher, student_config, "distill.alpha=0.3", "distill.hidden_weight=2",
                     "distill.hidden_layer_map=[[1, 3]]", "distill.attention_weight=0.5",
                     "distill.attention_layer_map=[[1, 1]]", "distill.attention_loss=kl")
    from paddle_wwm.finetuning.one_run import training_features

    task, _, _, train, _ = training_features(config)
    teacher, trained = build_models(config, task, seed=1)
    trained.eval()
    loss, parts = distillation_loss(task, config.distill, teacher, trained, task.batch(train, [0, 1, 2]))
    parts = {k: float(v) for k, v in parts.items()}
    assert float(loss) == pytest.approx(0.3 * parts["hard"] + 0.7 * parts["soft"] + 2 * parts["hidden"]
                                        + 0.5 * parts["attention"], rel=1e-5)
    assert all(v > 0 for v in parts.values())


def test_a_student_takes_exactly_the_chosen_teacher_layers(tiny_teacher):
    source = read_checkpoint(tiny_teacher)
    chosen = student_checkpoint(str(tiny_teacher), [2, 0], seed=1)
    assert chosen.config.num_hidden_layers == 2 and chosen.config.hidden_size == source.config.hidden_size
    for name, value in source.state.items():
        if not name.startswith("bert.layers."):
            assert np.array_equal(chosen.state[name], value), name  # embeddings, pooler, classifier
    layer_names = {n.split(".", 3)[3] for n in source.state if n.startswith("bert.layers.0.")}
    for new, old in ((0, 2), (1, 0)):
        for rest in layer_names:
            assert np.array_equal(chosen.state[f"bert.layers.{new}.{rest}"], source.state[f"bert.layers.{old}.{rest}"])
    assert not any(n.startswith("bert.layers.2.") for n in chosen.state)
    model = get_task("chnsenticorp").build_model(chosen)
    loaded = {n: p.numpy() for n, p in model.named_parameters()}
    assert np.array_equal(loaded["bert.layers.0.attention.qkv.weight"], source.state["bert.layers.2.attention.qkv.weight"])


def test_distill_through_the_command_line_writes_a_fine_tuned_checkpoint(tmp_path, tiny_teacher, capsys):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    out = tmp_path / "distilled"
    code = main(["distill", "--task", "chnsenticorp", "--teacher", str(tiny_teacher.parent), "--student",
                 str(tiny_teacher), "--init-layers", "0", "--data", str(data), "--out", str(out), "--quiet",
                 "train.epochs=1", "data.max_seq_len=32", "train.batch_size=4"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert str(out / "model") in printed and "dev accuracy" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["parameters"]["student"]["total"] < result["parameters"]["teacher"]["total"]
    assert main(["evaluate", "--task", "chnsenticorp", str(data / "dev.tsv"), str(out / "predictions-dev.json")]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(result["dev"]["accuracy"])
    # the checkpoint loads like any fine-tuned one and predicts what the run wrote
    from paddle_wwm.finetuning.tasks import run_model
    from paddle_wwm.finetuning.readers import read_examples
    from paddle_wwm.tokenization import BertTokenizer

    model = BertForSequenceClassification.from_pretrained(out / "model")
    assert model.config.num_hidden_layers == 1 and model.num_classes == 2
    task, examples = get_task("chnsenticorp"), read_examples("chnsenticorp", data / "dev.tsv").examples
    config = load_distill_config("chnsenticorp", None, [f"data.dir={data}", "model.name=x", "distill.teacher=y",
                                                         "data.max_seq_len=32"])
    features = task.encode(examples, BertTokenizer(), config.data)
    predictions = task.predict(run_model(model, task, features, 8), examples, features)
    assert predictions == json.loads((out / "predictions-dev.json").read_text())


def test_span_soft_targets_cover_start_and_end(tmp_path):
    """A span teacher and student: the soft part is the mean of the start and the end losses, each
    over the real positions only."""
    paddle.seed(2)
    teacher = BertForQuestionAnswering(BertConfig(**NO_DROPOUT))
    student = BertForQuestionAnswering(BertConfig(**dict(NO_DROPOUT, num_hidden_layers=1)))
    teacher.eval()
    student.eval()
    from paddle_wwm.distillation.run import StudentWithProjections

    trained = StudentWithProjections(student, [], 32)
    ids, types, mask = padded_batch()
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
             "start_positions": np.array([1, 2, 3]), "end_positions": np.array([2, 4, 4])}
    config = load_distill_config("cmrc2018", None, [f"data.dir={tmp_path}", "model.name=x", "distill.teacher=y",
                                                    "distill.temperature=2", "distill.alpha=0"])
    loss, parts = distillation_loss(get_task("cmrc2018"), config.distill, teacher, trained, batch)
    inputs = [paddle.to_tensor(a) for a in (ids, types, mask)]
    teacher_out, student_out = [o.numpy() for o in teacher(*inputs)], [o.numpy() for o in student(*inputs)]
    per_output = []
    for s, te in zip(student_out, teacher_out):
        rows = []
        for row, length in enumerate(mask.sum(1)):
            p, q = np_softmax(te[row, :length] / 2), np_softmax(s[row, :length] / 2)
            rows.append(np.sum(p * np.log(p / q)))
        per_output.append(np.mean(rows) * 4)
    assert float(parts["soft"]) == pytest.approx(np.mean(per_output), rel=1e-4)
    assert float(loss) == pytest.approx(float(parts["soft"]), rel=1e-6)  # alpha 0: the teacher alone


def test_distill_a_reading_comprehension_task_through_the_command_line(tmp_path):
    """CMRC 2018 windows, a QA teacher, a 1-layer student taken from it with attention matching."""
    paddle.seed(3)
    teacher = tmp_path / "qa-teacher"
    BertForQuestionAnswering(BertConfig(**NO_DROPOUT)).save_pretrained(teacher)
    data = tmp_path / "cmrc2018"
    data.mkdir()
    fixture = FIXTURES.parent / "cmrc2018" / "cmrc2018_dev.json"
    for name in ("cmrc2018_train.json", "cmrc2018_dev.json"):
        shutil.copy(fixture, data / name)
    out = tmp_path / "out"
    assert main(["distill", "--task", "cmrc2018", "--teacher", str(teacher), "--student", str(teacher),
                 "--init-layers", "1", "--data", str(data), "--out", str(out), "--quiet", "train.epochs=1",
                 "data.max_seq_len=128", "data.doc_stride=64", "data.max_query_length=32",
                 "distill.attention_weight=1", "distill.attention_layer_map=[[1, 2]]"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert set(result["dev"]) == {"em", "f1"} and result["train"]["features"] > 0
    student = BertForQuestionAnswering.from_pretrained(out / "model")
    assert student.config.num_hidden_layers == 1


# -- bad input ---------------------------------------------------------------------------------------
def _distill(tmp_path, teacher, student, *extra):
    data = tmp_path / "data"
    if not data.exists():
        shutil.copytree(FIXTURES, data)
    return main(["distill", "--task", "chnsenticorp", "--teacher", str(teacher), "--student", str(student),
                 "--data", str(data), "--out", str(tmp_path / "out"), "--quiet", "train.epochs=1",
                 "data.max_seq_len=32", *extra])


def test_bad_teachers_are_named(tmp_path, tiny_teacher, student_config, capsys):
    assert _distill(tmp_path, tmp_path / "nowhere", student_config) == 2
    assert "nowhere: teacher checkpoint directory not found" in capsys.readouterr().err
    encoder = tmp_path / "encoder"
    BertModel(BertConfig(**NO_DROPOUT)).save_pretrained(encoder)
    assert _distill(tmp_path, encoder, student_config) == 2
    assert f"{encoder / 'model.safetensors'}: no classifier for chnsenticorp" in capsys.readouterr().err
    three = tmp_path / "three-classes"
    BertForSequenceClassification(BertConfig(**NO_DROPOUT), num_classes=3).save_pretrained(three)
    assert _distill(tmp_path, three, student_config) == 2
    assert "the teacher's classifier has 3 classes, chnsenticorp has 2 labels" in capsys.readouterr().err


def test_bad_students_and_maps_are_named(tmp_path, tiny_teacher, student_config, capsys):
    small_vocab = tmp_path / "small-vocab.json"
    small_vocab.write_text(json.dumps(dict(NO_DROPOUT, vocab_size=100)))
    assert _distill(tmp_path, tiny_teacher, small_vocab) == 2
    assert "vocabularies differ: the teacher" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, student_config, "distill.hidden_weight=1",
                    "distill.hidden_layer_map=[[0, 0], [2, 3]]") == 2
    assert "distill.hidden_layer_map: pair [2, 3] is out of range: the student has layers 0..1" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, student_config, "distill.attention_weight=1",
                    "distill.attention_layer_map=[[0, 1]]") == 2
    assert "distill.attention_layer_map: pair [0, 1] is out of range" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, student_config, "distill.hidden_weight=1") == 2
    assert "distill.hidden_layer_map: a positive weight needs a layer map" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, tiny_teacher, "--init-layers", "0,0") == 2
    assert "--init-layers 0,0: need distinct layers in 0..2" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, tiny_teacher, "--init-layers", "5") == 2
    assert "need distinct layers in 0..2" in capsys.readouterr().err
    assert _distill(tmp_path, tiny_teacher, student_config, "--init-layers", "0") == 2
    assert "is a model config" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model").exists()
    with pytest.raises(DistillError, match="train.seeds: a distillation run takes one seed"):
        _config(tmp_path, tiny_teacher, student_config, "train.seeds=[1, 2]")
    with pytest.raises(DistillError, match="distill.temperature: must be positive"):
        _config(tmp_path, tiny_teacher, student_config, "distill.temperature=0")


def test_select_layers_refuses_an_empty_choice(tiny_teacher):
    with pytest.raises(DistillError, match="no layer chosen"):
        select_layers(read_checkpoint(tiny_teacher), [])


def test_the_recipes_read(tmp_path):
    for recipe in sorted((ROOT / "configs" / "distill").glob("*.yaml")):
        config = load_distill_config("chnsenticorp", recipe, [f"data.dir={tmp_path}", "model.name=x",
                                                               "distill.teacher=y"])
        assert config.distill.temperature == 8  # TextBrewer's published temperature
        assert config.distill.hidden_layer_map


def test_quick_benchmark_runs_every_stage(tmp_path):
    record, stdout = run_quick("distill_chnsenticorp.py", tmp_path / "results.json")
    assert record["quick"] is True and record["complete"] is True
    lines = record["table"].splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| teacher 4L-256, labels (1 seed)",
                                                            "| student 2L-96, labels only", "| student 2L-96, distilled"]
    sizes = record["parameters"]
    assert sizes["teacher"]["total"] > 3 * sizes["student"]["total"]
    assert record["table"] in stdout
    assert len(record["runs"]["distilled"]) == len(record["runs"]["labels_only"]) == 2
    assert record["distill_settings"]["teacher"] == "WORK/teacher/model"  # no machine path in the file
