"""Write the tiny TensorFlow BERT checkpoints tests/fixtures/tf_bert_tiny/ and tf_bert_tiny_adam/ with
TensorFlow itself.

The variables carry Google BERT's names and shapes (modeling.py / run_pretraining.py), as the seed's
TensorFlow releases have them, plus `global_step` and Adam slots that such files can contain
(tf_bert_tiny: on one variable; tf_bert_tiny_adam: on every variable, non-zero).
Run: .venv/bin/python tools/make_tf_fixture.py  (needs tensorflow-cpu)."""
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CONFIG = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
          "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 64,
          "num_attention_heads": 4, "num_hidden_layers": 2, "type_vocab_size": 2, "vocab_size": 128}
# A smaller model whose every variable carries Adam slots with non-zero values, as the un-stripped
# checkpoint of a pre-training run does (tf_bert_tiny_adam).
ADAM_CONFIG = dict(CONFIG, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                   max_position_embeddings=32)


def google_variables(config):
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    shapes = {
        "bert/embeddings/word_embeddings": [v, h],
        "bert/embeddings/token_type_embeddings": [config["type_vocab_size"], h],
        "bert/embeddings/position_embeddings": [config["max_position_embeddings"], h],
        "bert/embeddings/LayerNorm/gamma": [h], "bert/embeddings/LayerNorm/beta": [h],
        "bert/pooler/dense/kernel": [h, h], "bert/pooler/dense/bias": [h],
        "cls/predictions/transform/dense/kernel": [h, h], "cls/predictions/transform/dense/bias": [h],
        "cls/predictions/transform/LayerNorm/gamma": [h], "cls/predictions/transform/LayerNorm/beta": [h],
        "cls/predictions/output_bias": [v],
        "cls/seq_relationship/output_weights": [2, h], "cls/seq_relationship/output_bias": [2],
    }
    for n in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{n}/"
        for name in ("query", "key", "value"):
            shapes[p + f"attention/self/{name}/kernel"] = [h, h]
            shapes[p + f"attention/self/{name}/bias"] = [h]
        shapes.update({
            p + "attention/output/dense/kernel": [h, h], p + "attention/output/dense/bias": [h],
            p + "attention/output/LayerNorm/gamma": [h], p + "attention/output/LayerNorm/beta": [h],
            p + "intermediate/dense/kernel": [h, i], p + "intermediate/dense/bias": [i],
            p + "output/dense/kernel": [i, h], p + "output/dense/bias": [h],
            p + "output/LayerNorm/gamma": [h], p + "output/LayerNorm/beta": [h],
        })
    return shapes


def write_checkpoint(out: Path, config: dict, slots_everywhere: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name, shape in google_variables(config).items():
            value = (rng.standard_normal(shape) * 0.2).astype(np.float32)
            variables.append(tf.compat.v1.get_variable(name, initializer=value))
            if slots_everywhere:
                for slot in ("adam_m", "adam_v"):
                    noise = (rng.standard_normal(shape) * 0.01).astype(np.float32)
                    variables.append(tf.compat.v1.get_variable(f"{name}/{slot}", initializer=noise))
            elif name == "bert/pooler/dense/kernel":  # optimizer slots, as un-stripped checkpoints carry
                variables.append(tf.compat.v1.get_variable(name + "/adam_m", initializer=np.zeros(shape, np.float32)))
                variables.append(tf.compat.v1.get_variable(name + "/adam_v", initializer=np.zeros(shape, np.float32)))
        variables.append(tf.compat.v1.get_variable("global_step", initializer=np.int64(1000)))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(out / "bert_model.ckpt"), write_meta_graph=False)
    (out / "checkpoint").unlink(missing_ok=True)
    (out / "bert_config.json").write_text(json.dumps(config, indent=2) + "\n")
    vocab = (Path(__file__).resolve().parent.parent / "paddle_wwm" / "data" / "vocab.txt").read_text("utf-8")
    (out / "vocab.txt").write_text("".join(vocab.splitlines(keepends=True)[:config["vocab_size"]]), "utf-8")


def main():
    write_checkpoint(FIXTURES / "tf_bert_tiny", CONFIG, slots_everywhere=False, seed=2019)
    write_checkpoint(FIXTURES / "tf_bert_tiny_adam", ADAM_CONFIG, slots_everywhere=True, seed=2020)


if __name__ == "__main__":
    main()
