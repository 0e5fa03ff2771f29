"""paddle_wwm.modeling.layer_norm: the training-mode LayerNorm with the hand-written backward gives
torch's outputs and gradients, and a BERT training step gives the same loss and gradients as with
paddle.nn.LayerNorm."""
import numpy as np
import pytest

from conftest import TINY, require_reference

from paddle_wwm import runtime  # noqa: E402

paddle = pytest.importorskip("paddle")
F = paddle.nn.functional
# Before this file's first matmul, as building a model does: MKL picks its kernels at its first
# call, and later tests compare this process's numbers with those of processes they start.
runtime.maybe_configure_cpu()

from paddle_wwm.modeling import layer_norm as ln_module  # noqa: E402
from paddle_wwm.modeling.layer_norm import LayerNorm, layer_norm  # noqa: E402

CASES = [([6, 768], 1e-12, 0.0), ([2, 5, 33], 1e-5, 0.0), ([3, 7, 64], 1e-12, 4.0), ([40, 1024], 1e-5, -2.0),
         ([4, 9, 16], 1e-12, 0.0)]


def random_inputs(shape, offset, seed=0):
    rng = np.random.default_rng(seed)
    width = shape[-1]
    return ((rng.standard_normal(shape) * 1.5 + offset).astype(np.float32),
            rng.standard_normal(width).astype(np.float32), rng.standard_normal(width).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


def paddle_grads(function, x, weight, bias, grad_out):
    tensors = [paddle.to_tensor(a, stop_gradient=False) for a in (x, weight, bias)]
    out = function(*tensors)
    out.backward(paddle.to_tensor(grad_out))
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("shape,epsilon,offset", CASES)
def test_outputs_and_gradients_equal_torch_and_paddle(shape, epsilon, offset):
    torch = require_reference("torch")
    x, weight, bias, grad_out = random_inputs(shape, offset)
    reference = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    out = torch.nn.functional.layer_norm(reference[0], shape[-1:], reference[1], reference[2], epsilon)
    out.backward(torch.tensor(grad_out))
    expected = [out.detach().numpy()] + [t.grad.numpy() for t in reference]
    ours = paddle_grads(lambda a, w, b: layer_norm(a, w, b, epsilon), x, weight, bias, grad_out)
    paddles = paddle_grads(lambda a, w, b: F.layer_norm(a, shape[-1:], w, b, epsilon), x, weight, bias, grad_out)
    for name, got, want, kernel in zip(["out", "x", "weight", "bias"], ours, expected, paddles):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} against torch")
        np.testing.assert_allclose(got, kernel, rtol=1e-5, atol=1e-5, err_msg=f"{name} against paddle")


def test_layer_keeps_paddle_parameters_and_uses_the_fast_backward_only_when_training(monkeypatch):
    layer = LayerNorm(16, epsilon=1e-12)
    assert isinstance(layer, paddle.nn.LayerNorm)
    assert list(layer.state_dict()) == list(paddle.nn.LayerNorm(16).state_dict()) == ["weight", "bias"]
    calls = []
    real_apply = ln_module.LayerNormFunction.apply
    monkeypatch.setattr(ln_module.LayerNormFunction, "apply", lambda *a: calls.append(1) or real_apply(*a))
    x = paddle.randn([3, 16])
    x.stop_gradient = False
    layer.train()
    train_out = layer(x)
    assert calls == [1]
    layer.eval()
    eval_out = layer(x)
    assert calls == [1]
    np.testing.assert_array_equal(train_out.numpy(), eval_out.numpy())  # the same forward kernel


def test_frozen_weight_and_input_without_gradient():
    x, weight, bias, grad_out = random_inputs([5, 32], 0.0)
    layer, reference = LayerNorm(32), paddle.nn.LayerNorm(32)
    for module in (layer, reference):
        module.weight.set_value(paddle.to_tensor(weight))
        module.bias.set_value(paddle.to_tensor(bias))
        module.weight.stop_gradient = True
    grads = []
    for module in (layer, reference):
        out = module(paddle.to_tensor(x))  # the input needs no gradient
        out.backward(paddle.to_tensor(grad_out))
        assert module.weight.grad is None
        grads.append(module.bias.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def training_step(use_fast_backward: bool, monkeypatch):
    from paddle_wwm.modeling import BertConfig, BertForMaskedLM

    monkeypatch.setattr(LayerNorm, "_fast_backward", lambda self, x: use_fast_backward and self.training)
    paddle.seed(0)
    model = BertForMaskedLM(BertConfig(**TINY))
    rng = np.random.default_rng(0)
    for param in model.parameters():  # LayerNorm scales and shifts away from 1 and 0
        param.set_value(paddle.to_tensor((rng.standard_normal(param.shape) * 0.2).astype(np.float32)))
    model.train()
    ids = paddle.to_tensor(rng.integers(1000, 8000, (3, 16)))
    labels = paddle.to_tensor(rng.integers(1000, 8000, (3, 16)))
    paddle.seed(1)  # the same dropout masks in both runs
    logits = model(ids)
    loss = F.cross_entropy(logits.reshape([-1, logits.shape[-1]]), labels.reshape([-1]))
    loss.backward()
    return float(loss), {name: p.grad.numpy() for name, p in model.named_parameters() if p.grad is not None}


def test_bert_training_step_same_loss_and_gradients(monkeypatch):
    fast_loss, fast_grads = training_step(True, monkeypatch)
    plain_loss, plain_grads = training_step(False, monkeypatch)
    assert abs(fast_loss - plain_loss) < 1e-5
    assert set(fast_grads) == set(plain_grads)
    assert any("norm" in name for name in fast_grads)
    for name, grad in plain_grads.items():
        np.testing.assert_allclose(fast_grads[name], grad, rtol=1e-5, atol=1e-5, err_msg=name)


def test_without_the_legacy_op_interface_the_statistics_are_recomputed(monkeypatch):
    x, weight, bias, grad_out = random_inputs([3, 7, 64], 2.0)
    expected = paddle_grads(lambda a, w, b: F.layer_norm(a, [64], w, b, 1e-12), x, weight, bias, grad_out)
    monkeypatch.delattr(paddle, "_legacy_C_ops")
    got = paddle_grads(lambda a, w, b: layer_norm(a, w, b, 1e-12), x, weight, bias, grad_out)
    for name, a, b in zip(["out", "x", "weight", "bias"], got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
