"""Our BERT against PaddleNLP's own BertModel / BertForPretraining, in both directions.

PaddleNLP's BERT hard-codes LayerNorm epsilon 1e-5 (nn.LayerNorm's default) whatever the config
says, where Google and Hugging Face use 1e-12: parity holds for models built with 1e-5, and
writing a 1e-12 model for PaddleNLP warns that its outputs will differ."""
import numpy as np
import paddle
import pytest

from conftest import padded_batch, randomize_paddle_model
from paddle_wwm import BertConfig, BertForPretraining, BertForQuestionAnswering, BertModel
from paddle_wwm.checkpoints import read_checkpoint

paddlenlp_bert = pytest.importorskip("paddlenlp.transformers.bert.modeling")


def tensors(batch):
    return [paddle.to_tensor(a) for a in batch]


def run(model, batch):
    input_ids, token_type_ids, attention_mask = tensors(batch)
    with paddle.no_grad():
        return model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)


def run_paddlenlp(model, batch):
    input_ids, token_type_ids, attention_mask = tensors(batch)
    with paddle.no_grad():
        return model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask, return_dict=False)


def max_diff(a, b):
    return float(np.abs(a.numpy() - b.numpy()).max())


@pytest.fixture
def ours_for_paddlenlp(tiny_config_dict):
    config = BertConfig(**{**tiny_config_dict, "layer_norm_eps": 1e-5})
    paddle.seed(0)
    return randomize_paddle_model(BertForPretraining(config)).eval()


def test_saved_for_paddlenlp_gives_the_same_outputs_there(tmp_path, ours_for_paddlenlp):
    ours_for_paddlenlp.save_pretrained(tmp_path / "nlp", layout="paddlenlp")
    assert (tmp_path / "nlp" / "model_state.pdparams").is_file()
    batch = padded_batch()
    mlm, nsp = run(ours_for_paddlenlp, batch)

    theirs = paddlenlp_bert.BertForPretraining.from_pretrained(str(tmp_path / "nlp")).eval()
    their_mlm, their_nsp = run_paddlenlp(theirs, batch)[:2]
    assert max_diff(mlm, their_mlm) <= 1e-5
    assert max_diff(nsp, their_nsp) <= 1e-5

    their_encoder = paddlenlp_bert.BertModel.from_pretrained(str(tmp_path / "nlp")).eval()
    sequence_output, pooled_output = run(ours_for_paddlenlp.bert, batch)
    their_sequence, their_pooled = run_paddlenlp(their_encoder, batch)[:2]
    assert max_diff(sequence_output, their_sequence) <= 1e-5
    assert max_diff(pooled_output, their_pooled) <= 1e-5


def test_paddlenlp_checkpoint_reads_into_ours(tmp_path, tiny_config_dict):
    config = paddlenlp_bert.BertConfig(**{**tiny_config_dict, "layer_norm_eps": 1e-5})
    paddle.seed(1)
    theirs = randomize_paddle_model(paddlenlp_bert.BertForPretraining(config), seed=1).eval()
    theirs.save_pretrained(str(tmp_path / "theirs"))
    checkpoint = read_checkpoint(tmp_path / "theirs")
    assert checkpoint.layout == "paddlenlp"
    ours = BertForPretraining.from_pretrained(tmp_path / "theirs")
    batch = padded_batch(seed=2)
    mlm, nsp = run(ours, batch)
    their_mlm, their_nsp = run_paddlenlp(theirs, batch)[:2]
    assert max_diff(mlm, their_mlm) <= 1e-5
    assert max_diff(nsp, their_nsp) <= 1e-5


def test_question_answering_head_uses_paddlenlp_classifier_name(tmp_path, tiny_config_dict):
    config = BertConfig(**{**tiny_config_dict, "layer_norm_eps": 1e-5})
    ours = randomize_paddle_model(BertForQuestionAnswering(config), seed=4).eval()
    ours.save_pretrained(tmp_path / "qa", layout="paddlenlp")
    theirs = paddlenlp_bert.BertForQuestionAnswering.from_pretrained(str(tmp_path / "qa")).eval()
    batch = padded_batch(seed=4)
    start, end = run(ours, batch)
    their_start, their_end = run_paddlenlp(theirs, batch)[:2]
    assert max_diff(start, their_start) <= 1e-5 and max_diff(end, their_end) <= 1e-5
    back = BertForQuestionAnswering.from_pretrained(tmp_path / "qa")
    assert np.array_equal(back.qa_outputs.weight.numpy(), ours.qa_outputs.weight.numpy())


def test_export_of_a_1e12_model_warns_about_paddlenlp_epsilon(tmp_path, tiny_config_dict):
    model = BertModel(BertConfig(**tiny_config_dict))
    with pytest.warns(UserWarning, match="ignores layer_norm_eps"):
        model.save_pretrained(tmp_path / "nlp", layout="paddlenlp")
