"""Our BERT against PaddleNLP's own BertModel / BertForPretraining, in both directions.

The models are built with the zoo's LayerNorm epsilon, 1e-12 (Google's and Hugging Face's):
PaddleNLP 3's BERT sets every LayerNorm's epsilon from config.layer_norm_eps (its init_weights),
so parity holds at 1e-12 (PaddleNLP 2.x hard-coded nn.LayerNorm's 1e-5)."""
import numpy as np
import paddle
import pytest

from conftest import padded_batch, randomize_paddle_model, require_reference
from paddle_wwm import BertConfig, BertForPretraining, BertForQuestionAnswering, BertModel
from paddle_wwm.checkpoints import read_checkpoint

paddlenlp_bert = require_reference("paddlenlp.transformers.bert.modeling")


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
    config = BertConfig(**tiny_config_dict)
    assert config.layer_norm_eps == 1e-12
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
    config = paddlenlp_bert.BertConfig(**tiny_config_dict)
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


def test_paddlenlp_keeps_the_layer_norm_epsilon_of_the_config(tmp_path, tiny_config_dict):
    BertModel(BertConfig(**tiny_config_dict)).save_pretrained(tmp_path / "nlp", layout="paddlenlp")
    theirs = paddlenlp_bert.BertModel.from_pretrained(str(tmp_path / "nlp"))
    epsilons = {layer._epsilon for layer in theirs.sublayers() if isinstance(layer, paddle.nn.LayerNorm)}
    assert epsilons == {1e-12}
