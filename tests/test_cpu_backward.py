"""paddle_wwm.modeling.cpu_backward and paddle_wwm.training.grad_clip: the hand-written CPU
backward of dense layers gives torch's outputs and gradients; a BERT
pre-training step, clipping and AdamW update included, gives the same loss, gradients and
parameters as with paddle's own kernels everywhere."""
import numpy as np
import pytest

from conftest import TINY, require_reference

from paddle_wwm import runtime  # noqa: E402

paddle = pytest.importorskip("paddle")
F = paddle.nn.functional
runtime.maybe_configure_cpu()  # before this file's first matmul (see test_layer_norm.py)

from paddle_wwm.modeling import cpu_backward  # noqa: E402
from paddle_wwm.training.grad_clip import ClipGradByGlobalNorm  # noqa: E402

# (input shape, output width, transposed weight): 2-D and 3-D inputs, a decoder-style [out, in]
# weight, widths past one SIMD register.
CASES = [([6, 32], 48, False), ([2, 5, 33], 70, False), ([3, 7, 64], 40, True), ([40, 24], 130, True)]


def arrays(shape, width, transpose, seed=0):
    rng = np.random.default_rng(seed)
    w_shape = [width, shape[-1]] if transpose else [shape[-1], width]
    return ((rng.standard_normal(shape) * 2.0).astype(np.float32), (rng.standard_normal(w_shape) * 0.5).astype(np.float32),
            rng.standard_normal(width).astype(np.float32),
            rng.standard_normal([*shape[:-1], width]).astype(np.float32))


def torch_reference(x, w, b, grad_out, transpose):
    torch = require_reference("torch")
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b)]
    weight = tensors[1] if transpose else tensors[1].T  # torch's linear takes [out, in]
    out = torch.nn.functional.linear(tensors[0], weight, tensors[2])
    out.backward(torch.tensor(grad_out, dtype=torch.float64))
    return [out.detach().numpy()] + [t.grad.numpy() for t in tensors]


def ours(function, x, w, b, grad_out, frozen=()):
    tensors = [paddle.to_tensor(a, stop_gradient=i in frozen) for i, a in enumerate((x, w, b))]
    out = function(*tensors)
    out.backward(paddle.to_tensor(grad_out))
    return [out.numpy()] + [None if t.grad is None else t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("shape,width,transpose", CASES)
def test_linear_outputs_and_gradients_equal_torch(shape, width, transpose):
    x, w, b, grad_out = arrays(shape, width, transpose)
    want = torch_reference(x, w, b, grad_out, transpose)
    got = ours(lambda *t: cpu_backward.linear(*t, transpose_weight=transpose), x, w, b, grad_out)
    for name, a, e in zip(["out", "x", "weight", "bias"], got, want):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("transpose", [False, True])
def test_frozen_weight_and_input_without_gradient_get_none(transpose):
    x, w, b, grad_out = arrays([4, 16], 24, transpose)
    want = torch_reference(x, w, b, grad_out, transpose)
    got = ours(lambda *t: cpu_backward.linear(*t, transpose_weight=transpose), x, w, b, grad_out, frozen=(0, 1))
    assert got[1] is None and got[2] is None  # the input and the frozen weight
    np.testing.assert_allclose(got[3], want[3], rtol=1e-5, atol=1e-4)


def test_used_only_in_cpu_training_with_gradients(monkeypatch):
    from paddle_wwm.modeling.bert import dense

    calls = []
    real_apply = cpu_backward.DenseFunction.apply
    monkeypatch.setattr(cpu_backward.DenseFunction, "apply", lambda *a: calls.append(1) or real_apply(*a))
    layer = paddle.nn.Linear(8, 12)
    x = paddle.randn([2, 3, 8])
    layer.train()
    train_out = dense(layer, x)
    assert calls == [1]
    with paddle.no_grad():
        dense(layer, x)
    layer.eval()
    eval_out = dense(layer, x)
    cpu_backward.set_enabled(False)
    try:
        layer.train()
        dense(layer, x)
    finally:
        cpu_backward.set_enabled(True)
    assert calls == [1]
    np.testing.assert_array_equal(train_out.numpy(), eval_out.numpy())  # the same forward kernel


def pretraining_step(fast: bool, max_grad_norm: float):
    """Loss, gradients and updated parameters of one BertForPretraining step (MLM at masked
    positions, dropout on, clipping, AdamW) with every hand-written CPU path on or off."""
    from paddle_wwm.modeling import BertConfig, BertForPretraining
    from paddle_wwm.training.optimizer import build_optimizer
    from paddle_wwm.training.optimizer_config import OptimizerSection

    cpu_backward.set_enabled(fast)
    ClipGradByGlobalNorm.fast_cpu = fast
    try:
        paddle.seed(0)
        model = BertForPretraining(BertConfig(**TINY), with_nsp=False)
        rng = np.random.default_rng(0)
        for param in model.parameters():  # biases, LayerNorm scales and shifts away from 0 and 1
            param.set_value(paddle.to_tensor((rng.standard_normal(param.shape) * 0.2).astype(np.float32)))
        model.train()
        optimizer, _ = build_optimizer(model, OptimizerSection(learning_rate=1e-3, max_grad_norm=max_grad_norm),
                                       max_steps=10)
        ids = paddle.to_tensor(rng.integers(1000, 8000, (3, 16)))
        positions = paddle.to_tensor(np.sort(rng.choice(np.arange(1, 15), (3, 4), replace=True), 1))
        labels = paddle.to_tensor(rng.integers(1000, 8000, (3, 4)))
        paddle.seed(1)  # the same dropout masks in both runs
        logits, _ = model(ids, masked_positions=positions)
        loss = F.cross_entropy(logits.reshape([-1, logits.shape[-1]]), labels.reshape([-1]))
        loss.backward()
        grads = {name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None}
        optimizer.step()
        params = {name: p.numpy() for name, p in model.named_parameters()}
        return float(loss), grads, params
    finally:
        cpu_backward.set_enabled(True)
        ClipGradByGlobalNorm.fast_cpu = True


@pytest.mark.parametrize("max_grad_norm", [1e-3, 1e6])  # clipping active / not needed
def test_bert_pretraining_step_equals_paddles_own_kernels(max_grad_norm):
    fast_loss, fast_grads, fast_params = pretraining_step(True, max_grad_norm)
    plain_loss, plain_grads, plain_params = pretraining_step(False, max_grad_norm)
    assert abs(fast_loss - plain_loss) < 1e-5
    assert set(fast_grads) == set(plain_grads)
    assert any("intermediate" in name for name in fast_grads) and any("mlm.bias" in name for name in fast_grads)
    for name, grad in plain_grads.items():
        np.testing.assert_allclose(fast_grads[name], grad, rtol=1e-5, atol=1e-6, err_msg=name)
    for name, param in plain_params.items():
        np.testing.assert_allclose(fast_params[name], param, rtol=1e-5, atol=1e-6, err_msg=name)


def test_clip_equals_torch_clip_grad_norm_and_leaves_unclipped_alone():
    torch = require_reference("torch")
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in ([5, 7], [7], [3, 2, 4])]
    grads = [rng.standard_normal(v.shape).astype(np.float32) for v in values]
    for max_norm in (0.5, 1e3):
        params = [paddle.create_parameter(list(v.shape), "float32") for v in values]
        pairs = [(p, paddle.to_tensor(g)) for p, g in zip(params, grads)]
        frozen = paddle.create_parameter([2], "float32")
        frozen.need_clip = False
        frozen_grad = paddle.to_tensor(np.array([30.0, 40.0], np.float32))
        clipped = ClipGradByGlobalNorm(max_norm)._dygraph_clip(pairs + [(frozen, frozen_grad)])
        reference = [torch.tensor(v, requires_grad=True) for v in values]
        for r, g in zip(reference, grads):
            r.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_(reference, max_norm)
        for (_, got), r in zip(clipped, reference):
            np.testing.assert_allclose(got.numpy(), r.grad.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(clipped[-1][1].numpy(), [30.0, 40.0])  # need_clip=False
        if max_norm > 100:
            for (_, got), g in zip(clipped, grads):
                np.testing.assert_array_equal(got.numpy(), g)
