"""Print the max abs differences between our BERT and the reference implementations.

Random tiny checkpoints (hidden 32, 2 layers, the real 21,128 vocabulary, every weight ~N(0, 0.2))
are written by transformers and PaddleNLP themselves, read by paddle-wwm, and run on the same
padded batch. The test suite asserts the same comparisons (tests/test_parity_*.py) at <= 1e-5.

    .venv/bin/python tools/parity_report.py
"""
import tempfile
from pathlib import Path

import numpy as np
import paddle
import torch
import transformers
from paddlenlp.transformers.bert import modeling as paddlenlp_bert

from paddle_wwm import BertConfig, BertForPretraining

TINY = dict(vocab_size=21128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64)


def batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 8000, size=(3, 16))
    mask = np.zeros((3, 16), np.int64)
    types = np.zeros((3, 16), np.int64)
    for row, length in enumerate((16, 11, 5)):
        mask[row, :length] = 1
        types[row, length // 2:length] = 1
    ids[:, 0] = 101
    return np.where(mask == 1, ids, 0).astype(np.int64), types, mask


def ours(model, data):
    with paddle.no_grad():
        mlm, nsp = model(*(paddle.to_tensor(a) for a in data[:1]), token_type_ids=paddle.to_tensor(data[1]),
                         attention_mask=paddle.to_tensor(data[2]))
        seq, pooled = model.bert(paddle.to_tensor(data[0]), paddle.to_tensor(data[1]), paddle.to_tensor(data[2]))
    return {"sequence": seq.numpy(), "pooled": pooled.numpy(), "mlm": mlm.numpy(), "nsp": nsp.numpy()}


def report(name, a, b):
    print(name + ": " + ", ".join(f"{k} {np.abs(a[k] - b[k]).max():.2e}" for k in a))


def main():
    data = batch()
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        hf = transformers.BertForPreTraining(transformers.BertConfig(**TINY))
        with torch.no_grad():
            for p in hf.parameters():
                p.copy_(torch.randn(p.shape) * 0.2)
        hf.eval().save_pretrained(Path(tmp) / "hf")
        with torch.no_grad():
            t = [torch.from_numpy(a) for a in data]
            out = hf(input_ids=t[0], token_type_ids=t[1], attention_mask=t[2])
            enc = hf.bert(input_ids=t[0], token_type_ids=t[1], attention_mask=t[2])
        theirs = {"sequence": enc.last_hidden_state.numpy(), "pooled": enc.pooler_output.numpy(),
                  "mlm": out.prediction_logits.numpy(), "nsp": out.seq_relationship_logits.numpy()}
        report("transformers BertForPreTraining (HF safetensors -> ours)",
               ours(BertForPretraining.from_pretrained(Path(tmp) / "hf"), data), theirs)

        config = BertConfig(**TINY, layer_norm_eps=1e-5)  # PaddleNLP's BERT always uses 1e-5
        paddle.seed(0)
        model = BertForPretraining(config)
        rng = np.random.default_rng(1)
        for p in model.parameters():
            p.set_value((rng.standard_normal(p.shape) * 0.2).astype(np.float32))
        model.eval().save_pretrained(Path(tmp) / "nlp", layout="paddlenlp")
        nlp = paddlenlp_bert.BertForPretraining.from_pretrained(str(Path(tmp) / "nlp")).eval()
        nlp_encoder = paddlenlp_bert.BertModel.from_pretrained(str(Path(tmp) / "nlp")).eval()
        with paddle.no_grad():
            t = [paddle.to_tensor(a) for a in data]
            mlm, nsp = nlp(t[0], token_type_ids=t[1], attention_mask=t[2], return_dict=False)[:2]
            seq, pooled = nlp_encoder(t[0], token_type_ids=t[1], attention_mask=t[2], return_dict=False)[:2]
        report("PaddleNLP BertForPretraining/BertModel (ours -> PaddleNLP layout)", ours(model, data),
               {"sequence": seq.numpy(), "pooled": pooled.numpy(), "mlm": mlm.numpy(), "nsp": nsp.numpy()})


if __name__ == "__main__":
    main()
