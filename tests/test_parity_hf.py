"""Our BERT against transformers' BERT (the reference implementation) on the same weights."""
import numpy as np
import paddle
import pytest
import torch
import transformers

from conftest import padded_batch, randomize_torch_model
from paddle_wwm import BertForPretraining, BertForQuestionAnswering, BertForSequenceClassification, BertModel
from paddle_wwm.checkpoints import convert, read_checkpoint

TOLERANCE = 1e-5


def run_ours(model, batch):
    input_ids, token_type_ids, attention_mask = (paddle.to_tensor(a) for a in batch)
    with paddle.no_grad():
        return model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)


def run_hf(model, batch):
    input_ids, token_type_ids, attention_mask = (torch.from_numpy(a) for a in batch)
    with torch.no_grad():
        return model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)


def assert_close(ours, theirs, what):
    ours = ours.numpy() if hasattr(ours, "numpy") and not isinstance(ours, np.ndarray) else ours
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, what
    diff = float(np.abs(ours - theirs).max())
    assert diff <= TOLERANCE, f"{what}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("weights_file", ["safetensors", "pytorch_model.bin"])
def test_pretraining_outputs_match_transformers(tmp_path, hf_pretraining_dir, weights_file):
    hf_dir, hf_model = hf_pretraining_dir
    if weights_file == "pytorch_model.bin":
        hf_dir = tmp_path / "hf_bin"
        hf_model.save_pretrained(hf_dir, safe_serialization=False)
        assert (hf_dir / "pytorch_model.bin").exists()
    batch = padded_batch()
    ours = BertForPretraining.from_pretrained(hf_dir)
    mlm, nsp = run_ours(ours, batch)
    reference = run_hf(hf_model, batch)
    assert_close(mlm, reference.prediction_logits, "MLM logits")
    assert_close(nsp, reference.seq_relationship_logits, "NSP logits")

    encoder = BertModel.from_pretrained(hf_dir)
    sequence_output, pooled_output = run_ours(encoder, batch)
    hf_outputs = run_hf(hf_model.bert, batch)
    assert_close(sequence_output, hf_outputs.last_hidden_state, "sequence output")
    assert_close(pooled_output, hf_outputs.pooler_output, "pooled output")


def test_masked_positions_give_the_same_logits_as_the_full_head(hf_pretraining_dir):
    hf_dir, _ = hf_pretraining_dir
    model = BertForPretraining.from_pretrained(hf_dir)
    batch = padded_batch()
    full, _ = run_ours(model, batch)
    positions = np.array([[1, 3, 7], [2, 4, 9], [1, 2, 3]])
    with paddle.no_grad():
        gathered, _ = model(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
                            attention_mask=paddle.to_tensor(batch[2]), masked_positions=paddle.to_tensor(positions))
    expected = np.take_along_axis(full.numpy(), positions[:, :, None], axis=1)
    np.testing.assert_allclose(gathered.numpy(), expected, atol=1e-5)


def test_bare_encoder_checkpoint_without_prefix(tmp_path, tiny_config_dict):
    """HF BertModel saved alone has no `bert.` prefix and no heads."""
    hf_model = randomize_torch_model(transformers.BertModel(transformers.BertConfig(**tiny_config_dict))).eval()
    hf_model.save_pretrained(tmp_path / "enc")
    ours = BertModel.from_pretrained(tmp_path / "enc")
    batch = padded_batch(seed=3)
    sequence_output, pooled_output = run_ours(ours, batch)
    reference = run_hf(hf_model, batch)
    assert_close(sequence_output, reference.last_hidden_state, "sequence output")
    assert_close(pooled_output, reference.pooler_output, "pooled output")


def test_classification_and_qa_heads_match_transformers(tmp_path, tiny_config_dict):
    for hf_cls, our_cls, num_labels, check in (
        (transformers.BertForSequenceClassification, BertForSequenceClassification, 3,
         lambda o, r: assert_close(o, r.logits, "sequence logits")),
        (transformers.BertForQuestionAnswering, BertForQuestionAnswering, 2,
         lambda o, r: (assert_close(o[0], r.start_logits, "start"), assert_close(o[1], r.end_logits, "end"))),
    ):
        hf_model = randomize_torch_model(hf_cls(transformers.BertConfig(**tiny_config_dict, num_labels=num_labels)))
        hf_model.eval()
        directory = tmp_path / hf_cls.__name__
        hf_model.save_pretrained(directory)
        ours = our_cls.from_pretrained(directory)
        batch = padded_batch(seed=5)
        check(run_ours(ours, batch), run_hf(hf_model, batch))
    assert BertForSequenceClassification.from_pretrained(
        tmp_path / "BertForSequenceClassification").num_classes == 3


def test_round_trip_ours_to_hf_to_ours_is_exact(tmp_path, hf_pretraining_dir):
    hf_dir, hf_model = hf_pretraining_dir
    first = convert(hf_dir, tmp_path / "ours")
    convert(tmp_path / "ours", tmp_path / "hf_again", layout="huggingface")
    convert(tmp_path / "hf_again", tmp_path / "ours_again")
    a, b = read_checkpoint(tmp_path / "ours").state, read_checkpoint(tmp_path / "ours_again").state
    assert sorted(a) == sorted(b) and first.layout == "huggingface"
    for name in a:
        assert np.array_equal(a[name], b[name]), name

    # and transformers itself reads what we wrote, with the same outputs as the original
    reloaded = transformers.BertForPreTraining.from_pretrained(tmp_path / "hf_again").eval()
    batch = padded_batch(seed=7)
    original, again = run_hf(hf_model, batch), run_hf(reloaded, batch)
    assert torch.equal(original.prediction_logits, again.prediction_logits)
    assert torch.equal(original.seq_relationship_logits, again.seq_relationship_logits)


def test_old_gamma_beta_names_are_read(tmp_path, hf_pretraining_dir):
    """pytorch-pretrained-BERT era files call LayerNorm parameters gamma and beta."""
    hf_dir, hf_model = hf_pretraining_dir
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in hf_model.state_dict().items()}
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "pytorch_model.bin")
    (old / "config.json").write_text((hf_dir / "config.json").read_text())
    batch = padded_batch()
    a, _ = run_ours(BertForPretraining.from_pretrained(old), batch)
    b, _ = run_ours(BertForPretraining.from_pretrained(hf_dir), batch)
    assert np.array_equal(a.numpy(), b.numpy())
