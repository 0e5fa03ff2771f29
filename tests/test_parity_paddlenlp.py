"""Our BERT against PaddleNLP's own BertModel / BertForPretraining, in both directions.

The models are built with the zoo's LayerNorm epsilon, 1e-12 (Google's and Hugging Face's):
PaddleNLP 3's BERT sets every LayerNorm's epsilon from config.layer_norm_eps (its init_weights),
so parity holds at 1e-12 (PaddleNLP 2.x hard-coded nn.LayerNorm's 1e-5)."""
import numpy as np
import paddle
import pytest

from conftest import padded_batch, randomize_paddle_model, require_reference
from paddle_wwm import BertConfig, BertForMaskedLM, BertForPretraining, BertForQuestionAnswering, BertModel
from paddle_wwm.checkpoints import read_checkpoint

paddlenlp_bert = require_reference("paddlenlp.transformers.bert.modeling")
paddlenlp_roberta = require_reference("paddlenlp.transformers.roberta.modeling")
paddlenlp_roberta_configs = require_reference("paddlenlp.transformers.roberta.configuration")


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


# -- the RoBERTa family as PaddleNLP serves it: RobertaModel / RobertaForMaskedLM state dicts -------
HFL_ROBERTA = ("hfl/roberta-wwm-ext", "hfl/roberta-wwm-ext-large", "hfl/rbt3", "hfl/rbtl3", "hfl/rbt4", "hfl/rbt6")
SHRUNK = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "max_position_embeddings")


def paddlenlp_roberta_config(name, tiny_config_dict):
    """PaddleNLP's own config of an hfl model (its pad_token_id, type_vocab_size, ...), made tiny."""
    config = dict(paddlenlp_roberta_configs.PRETRAINED_INIT_CONFIGURATION[name])
    return paddlenlp_roberta.RobertaConfig(**{**config, **{k: tiny_config_dict[k] for k in SHRUNK}})


def bert_positions(attention_mask):
    return np.broadcast_to(np.arange(attention_mask.shape[1]), attention_mask.shape).astype(np.int64)


def paddlenlp_default_positions(input_ids, pad_token_id):
    """PaddleNLP 3's RobertaEmbeddings without position_ids: pad_token_id + 1, + 2, ... for tokens,
    pad_token_id for padding (fairseq's numbering), written out by hand."""
    positions = np.full(input_ids.shape, pad_token_id, dtype=np.int64)
    for row, ids in enumerate(input_ids):
        count = 0
        for column, token in enumerate(ids):
            if token != pad_token_id:
                count += 1
                positions[row, column] = pad_token_id + count
    return positions


def max_diff_on_tokens(a, b, attention_mask):
    """Over the real tokens: PaddleNLP's RobertaEmbeddings gives the padding id a zero word embedding
    (Paddle's nn.Embedding(padding_idx=...) does; BERT, transformers and ours look the row up), which
    changes only the outputs at padding positions, themselves masked out of every attention."""
    return float(np.abs(a.numpy() - b.numpy())[attention_mask.astype(bool)].max())


def run_with_positions(model, batch, positions, **kwargs):
    input_ids, token_type_ids, attention_mask = tensors(batch)
    with paddle.no_grad():
        return model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                     position_ids=paddle.to_tensor(positions), **kwargs)


@pytest.mark.parametrize("name", HFL_ROBERTA)
def test_a_paddlenlp_roberta_model_saved_by_paddlenlp_reads_into_ours(tmp_path, tiny_config_dict, name):
    config = paddlenlp_roberta_config(name, tiny_config_dict)
    paddle.seed(5)
    theirs = randomize_paddle_model(paddlenlp_roberta.RobertaModel(config), seed=5).eval()
    theirs.save_pretrained(str(tmp_path / "theirs"))
    ours = BertModel.from_pretrained(tmp_path / "theirs")
    batch = padded_batch(seed=5)

    # BERT's positions 0..n-1, which the released weights were trained with and ours uses by default
    mask = batch[2]
    sequence, pooled = run(ours, batch)
    their_sequence, their_pooled = run_with_positions(theirs, batch, bert_positions(mask), return_dict=False)[:2]
    assert max_diff_on_tokens(sequence, their_sequence, mask) <= 1e-5 and max_diff(pooled, their_pooled) <= 1e-5

    # PaddleNLP's default numbering: given the same position ids, ours gives its outputs too
    positions = paddlenlp_default_positions(batch[0], config.pad_token_id)
    their_default = run_paddlenlp(theirs, batch)[0]
    assert max_diff_on_tokens(run_with_positions(ours, batch, positions)[0], their_default, mask) <= 1e-5
    assert max_diff_on_tokens(sequence, their_default, mask) > 1e-3  # the two numberings do differ


def test_a_paddlenlp_roberta_masked_lm_reads_into_ours_with_its_head(tmp_path, tiny_config_dict):
    config = paddlenlp_roberta_config("hfl/roberta-wwm-ext", tiny_config_dict)
    paddle.seed(6)
    theirs = paddlenlp_roberta.RobertaForMaskedLM(config)
    randomize_paddle_model(theirs, seed=6).eval()
    theirs.save_pretrained(str(tmp_path / "theirs"))
    saved = paddle.load(str(tmp_path / "theirs" / "model_state.pdparams"))
    assert "roberta.encoder.layers.0.self_attn.q_proj.weight" in saved and "lm_head.bias" in saved
    checkpoint = read_checkpoint(tmp_path / "theirs")
    assert checkpoint.layout == "paddlenlp" and checkpoint.architecture == "BertForMaskedLM"
    assert np.array_equal(checkpoint.state["mlm.bias"], saved["lm_head.bias"].numpy())
    ours = BertForMaskedLM.from_pretrained(tmp_path / "theirs")
    batch = padded_batch(seed=6)
    logits = run(ours, batch)
    their_logits = run_with_positions(theirs, batch, bert_positions(batch[2]), return_dict=False)
    their_logits = their_logits[0] if isinstance(their_logits, (tuple, list)) else their_logits
    assert max_diff_on_tokens(logits, their_logits, batch[2]) <= 1e-5
