"""Behaviour of the encoder and the task heads beyond reference parity (see test_parity_*.py)."""
import numpy as np
import paddle
import pytest

from conftest import padded_batch, randomize_paddle_model
from paddle_wwm import (BertConfig, BertForPretraining, BertForQuestionAnswering, BertForTextMatching,
                        BertForTokenClassification, BertModel)


@pytest.fixture
def config(tiny_config_dict):
    return BertConfig(**tiny_config_dict)


def as_tensors(batch):
    return [paddle.to_tensor(a) for a in batch]


def test_padding_is_exact(config):
    """Appending padding must not change the outputs at real tokens (or the pooled output)."""
    model = randomize_paddle_model(BertModel(config)).eval()
    input_ids, token_type_ids, attention_mask = padded_batch(batch=1, seq=9, lengths=(9,))
    padded = [np.pad(a, ((0, 0), (0, 7))) for a in (input_ids, token_type_ids, attention_mask)]
    with paddle.no_grad():
        short = model(*as_tensors([input_ids]), token_type_ids=paddle.to_tensor(token_type_ids),
                      attention_mask=paddle.to_tensor(attention_mask))
        long = model(*as_tensors([padded[0]]), token_type_ids=paddle.to_tensor(padded[1]),
                     attention_mask=paddle.to_tensor(padded[2]))
    np.testing.assert_allclose(long[0].numpy()[:, :9], short[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(long[1].numpy(), short[1].numpy(), atol=1e-6)


def test_fused_attention_backend_equals_the_explicit_one(config):
    model = randomize_paddle_model(BertModel(config)).eval()
    input_ids, token_type_ids, attention_mask = as_tensors(padded_batch())
    with paddle.no_grad():
        model.set_attention_backend("math")
        explicit = model(input_ids, token_type_ids, attention_mask)[0].numpy()
        model.set_attention_backend("sdpa")
        fused = model(input_ids, token_type_ids, attention_mask)[0].numpy()
    np.testing.assert_allclose(fused, explicit, atol=1e-5)
    with pytest.raises(ValueError, match="auto, math or sdpa"):
        model.set_attention_backend("flash")


def test_text_matching_is_a_linear_layer_on_u_v_and_their_distance(config):
    model = randomize_paddle_model(BertForTextMatching(config, num_classes=3)).eval()
    query = padded_batch(seed=1, lengths=(16, 4, 9))
    title = padded_batch(seed=2, lengths=(7, 16, 3))
    with paddle.no_grad():
        logits = model(paddle.to_tensor(query[0]), paddle.to_tensor(title[0]),
                       query_attention_mask=paddle.to_tensor(query[2]), title_attention_mask=paddle.to_tensor(title[2]))
        def mean(batch):  # by hand: average of the real tokens' vectors
            out, _ = model.bert(paddle.to_tensor(batch[0]), attention_mask=paddle.to_tensor(batch[2]))
            out, mask = out.numpy(), batch[2][:, :, None]
            return (out * mask).sum(1) / mask.sum(1)
        u, v = mean(query), mean(title)
    features = np.concatenate([u, v, np.abs(u - v)], axis=-1)
    expected = features @ model.classifier.weight.numpy() + model.classifier.bias.numpy()
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)


def test_head_output_shapes(config):
    input_ids, token_type_ids, attention_mask = as_tensors(padded_batch())
    with paddle.no_grad():
        assert BertForTokenClassification(config, num_classes=7).eval()(input_ids).shape == [3, 16, 7]
        start, end = BertForQuestionAnswering(config).eval()(input_ids, token_type_ids, attention_mask)
        assert start.shape == end.shape == [3, 16]
        mlm, nsp = BertForPretraining(config, with_nsp=False).eval()(input_ids)
        assert mlm.shape == [3, 16, config.vocab_size] and nsp is None


def test_dropout_only_in_training(config):
    model = BertModel(config)
    input_ids = paddle.to_tensor(padded_batch()[0])
    model.train()
    a, b = model(input_ids)[0].numpy(), model(input_ids)[0].numpy()
    assert not np.allclose(a, b)
    model.eval()
    with paddle.no_grad():
        assert np.array_equal(model(input_ids)[0].numpy(), model(input_ids)[0].numpy())


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_drops_p_and_rescales_the_rest(p):
    """Our CPU dropout (int32 random mask) against the definition: a fraction p of zeros, the
    rest scaled by 1 / (1 - p), the gradient masked the same way; independent draws each call."""
    from paddle_wwm.modeling.bert import dropout

    paddle.seed(0)
    x = paddle.full([200, 1000], 2.0)
    x.stop_gradient = False
    y = dropout(x, p)
    y.sum().backward()
    out, grad = y.numpy(), x.grad.numpy()
    dropped = out == 0
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / out.size)  # 4 standard errors
    np.testing.assert_allclose(out[~dropped], 2.0 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(grad == 0, dropped)
    np.testing.assert_allclose(grad[~dropped], 1.0 / (1 - p), rtol=1e-6)
    assert (dropout(x, p).numpy() == 0).mean() > 0 and not np.array_equal(dropout(x, p).numpy(), out)
    assert dropout(x, 0.0) is x


def test_a_few_steps_of_training_lower_the_mlm_loss(config):
    paddle.seed(0)
    model = BertForPretraining(config)
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-2, parameters=model.parameters())
    input_ids, token_type_ids, attention_mask = as_tensors(padded_batch())
    positions = paddle.to_tensor(np.array([[1, 2, 3], [1, 2, 5], [1, 2, 3]]))
    labels = paddle.take_along_axis(input_ids, positions, axis=1)
    losses = []
    for _ in range(20):
        mlm, nsp = model(input_ids, token_type_ids, attention_mask, masked_positions=positions)
        loss = paddle.nn.functional.cross_entropy(mlm.reshape([-1, config.vocab_size]), labels.reshape([-1]))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_too_long_or_badly_shaped_input(config):
    model = BertModel(config).eval()
    with pytest.raises(ValueError, match="sequence length 65 exceeds max_position_embeddings 64"):
        model(paddle.ones([1, 65], dtype="int64"))
    with pytest.raises(ValueError, match=r"input_ids must be \[batch, seq\]"):
        model(paddle.ones([65], dtype="int64"))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(paddle.ones([2, 8], dtype="int64"), attention_mask=paddle.ones([2, 7], dtype="int64"))


def test_config_reads_paddlenlp2_init_args_and_round_trips_hf(tmp_path, config):
    legacy = {"init_args": [{"vocab_size": 21128, "hidden_size": 32, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "intermediate_size": 64, "hidden_dropout": 0.1}],
              "init_class": "BertModel"}
    read = BertConfig.from_dict(legacy)
    assert (read.hidden_size, read.num_hidden_layers, read.hidden_dropout_prob) == (32, 2, 0.1)
    hf = BertConfig.from_dict(config.to_hf_dict())
    assert hf == config
