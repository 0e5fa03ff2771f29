"""Parameter-name maps between our layout and Hugging Face, PaddleNLP and Google TensorFlow BERT.

Every state dict here is `name -> numpy array`. Ours is the canonical form: the encoder under
`bert.`, heads under `mlm.`, `nsp.`, `classifier.`, `qa_outputs.`; Linear weights [in, out];
query/key/value fused into one `attention.qkv` projection ([hidden, 3 * hidden]).

A rule maps one of our parameters to one foreign parameter, or to three (q, k, v) that are
concatenated along the output axis. `transpose` marks foreign Linear weights stored [out, in]
(torch's layout; TF's `output_weights` of the NSP head too).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from paddle_wwm.errors import PaddleWwmError


@dataclass(frozen=True)
class Rule:
    ours: str
    theirs: tuple[str, ...]
    transpose: bool = False


def _linear(ours: str, theirs: str, transpose: bool, weight="weight", bias="bias") -> list[Rule]:
    return [Rule(f"{ours}.weight", (f"{theirs}.{weight}",), transpose), Rule(f"{ours}.bias", (f"{theirs}.{bias}",))]


def _norm(ours: str, theirs: str, weight="weight", bias="bias") -> list[Rule]:
    return [Rule(f"{ours}.weight", (f"{theirs}.{weight}",)), Rule(f"{ours}.bias", (f"{theirs}.{bias}",))]


def _qkv(ours: str, theirs: tuple[str, str, str], transpose: bool, weight="weight", bias="bias") -> list[Rule]:
    return [Rule(f"{ours}.weight", tuple(f"{t}.{weight}" for t in theirs), transpose),
            Rule(f"{ours}.bias", tuple(f"{t}.{bias}" for t in theirs))]


@dataclass(frozen=True)
class Layout:
    """How one foreign format names a BERT: embeddings, one encoder layer (`{i}`), pooler, heads."""
    name: str
    encoder_prefix: str  # where the encoder sits in a task model ("bert." for all three)
    embeddings: tuple[Rule, ...]
    layer: tuple[Rule, ...]
    pooler: tuple[Rule, ...]
    heads: tuple[Rule, ...]
    separator: str = "."

    def encoder_rules(self, num_layers: int) -> list[Rule]:
        rules = list(self.embeddings) + list(self.pooler)
        for i in range(num_layers):
            for rule in self.layer:
                rules.append(Rule(rule.ours.replace("{i}", str(i)),
                                  tuple(t.replace("{i}", str(i)) for t in rule.theirs), rule.transpose))
        return rules


HF = Layout(
    name="huggingface",
    encoder_prefix="bert.",
    embeddings=(
        Rule("embeddings.word_embeddings.weight", ("embeddings.word_embeddings.weight",)),
        Rule("embeddings.position_embeddings.weight", ("embeddings.position_embeddings.weight",)),
        Rule("embeddings.token_type_embeddings.weight", ("embeddings.token_type_embeddings.weight",)),
        *_norm("embeddings.layer_norm", "embeddings.LayerNorm"),
    ),
    layer=(
        *_qkv("layers.{i}.attention.qkv", tuple(f"encoder.layer.{{i}}.attention.self.{p}" for p in ("query", "key", "value")),
              transpose=True),
        *_linear("layers.{i}.attention.out", "encoder.layer.{i}.attention.output.dense", transpose=True),
        *_norm("layers.{i}.attention_norm", "encoder.layer.{i}.attention.output.LayerNorm"),
        *_linear("layers.{i}.intermediate", "encoder.layer.{i}.intermediate.dense", transpose=True),
        *_linear("layers.{i}.output", "encoder.layer.{i}.output.dense", transpose=True),
        *_norm("layers.{i}.output_norm", "encoder.layer.{i}.output.LayerNorm"),
    ),
    pooler=tuple(_linear("pooler.dense", "pooler.dense", transpose=True)),
    heads=(
        *_linear("mlm.transform", "cls.predictions.transform.dense", transpose=True),
        *_norm("mlm.transform_norm", "cls.predictions.transform.LayerNorm"),
        Rule("mlm.bias", ("cls.predictions.bias",)),
        *_linear("nsp", "cls.seq_relationship", transpose=True),
        *_linear("classifier", "classifier", transpose=True),
        *_linear("qa_outputs", "qa_outputs", transpose=True),
    ),
)

PADDLENLP = Layout(
    name="paddlenlp",
    encoder_prefix="bert.",
    embeddings=(
        Rule("embeddings.word_embeddings.weight", ("embeddings.word_embeddings.weight",)),
        Rule("embeddings.position_embeddings.weight", ("embeddings.position_embeddings.weight",)),
        Rule("embeddings.token_type_embeddings.weight", ("embeddings.token_type_embeddings.weight",)),
        *_norm("embeddings.layer_norm", "embeddings.layer_norm"),
    ),
    layer=(
        *_qkv("layers.{i}.attention.qkv", tuple(f"encoder.layers.{{i}}.self_attn.{p}_proj" for p in "qkv"), transpose=False),
        *_linear("layers.{i}.attention.out", "encoder.layers.{i}.self_attn.out_proj", transpose=False),
        *_norm("layers.{i}.attention_norm", "encoder.layers.{i}.norm1"),
        *_linear("layers.{i}.intermediate", "encoder.layers.{i}.linear1", transpose=False),
        *_linear("layers.{i}.output", "encoder.layers.{i}.linear2", transpose=False),
        *_norm("layers.{i}.output_norm", "encoder.layers.{i}.norm2"),
    ),
    pooler=tuple(_linear("pooler.dense", "pooler.dense", transpose=False)),
    heads=(
        *_linear("mlm.transform", "cls.predictions.transform", transpose=False),
        *_norm("mlm.transform_norm", "cls.predictions.layer_norm"),
        Rule("mlm.bias", ("cls.predictions.decoder_bias",)),
        *_linear("nsp", "cls.seq_relationship", transpose=False),
        *_linear("classifier", "classifier", transpose=False),
    ),
)

# PaddleNLP's BertForQuestionAnswering calls its span layer `classifier`: only the architecture
# in the config tells the two apart.
PADDLENLP_QA = dataclasses.replace(PADDLENLP, heads=tuple(
    r for r in PADDLENLP.heads if not r.ours.startswith("classifier.")) + tuple(
    _linear("qa_outputs", "classifier", transpose=False)))

# PaddleNLP serves the RoBERTa family (hfl/roberta-wwm-ext, rbt3, ...) as its RobertaModel state
# dicts: PaddleNLP's BERT encoder names under `roberta.` (none in a bare RobertaModel) and the MLM
# head as `lm_head` (its decoder is tied to the word embeddings, like ours). The weights are BERT's
# and are read with BERT's semantics (positions 0..n-1, as released and as transformers' BertModel
# runs them). PaddleNLP 3's RobertaModel differs in its forward only: by default it numbers positions
# from pad_token_id + 1, and its word embedding gives the padding id a zero vector (outputs at
# padding positions only). tests/test_parity_paddlenlp.py shows both.
PADDLENLP_ROBERTA = dataclasses.replace(PADDLENLP, name="paddlenlp-roberta", encoder_prefix="roberta.", heads=(
    *_linear("mlm.transform", "lm_head.dense", transpose=False),
    *_norm("mlm.transform_norm", "lm_head.layer_norm"),
    Rule("mlm.bias", ("lm_head.bias",)),
))
# Tensors that repeat one of ours (tied to the word embeddings, or the MLM bias under a second name).
TIED_COPIES = ("cls.predictions.decoder", "lm_head.decoder.")


def paddlenlp_layout(state_names, architectures) -> Layout:
    """The PaddleNLP name map for a state dict: BERT's, BERT's question answering (whose span layer
    is called `classifier`: only the config's architecture tells), or RoBERTa's."""
    if any(name.startswith(("roberta.", "lm_head.")) for name in state_names) or \
            any(a.startswith("Roberta") for a in architectures):
        return PADDLENLP_ROBERTA
    return PADDLENLP_QA if "BertForQuestionAnswering" in architectures else PADDLENLP


def _tf_names(layout: Layout) -> Layout:
    # The helpers above join parameter names with "."; TensorFlow variable names use "/".
    def fix(rules):
        return tuple(Rule(r.ours, tuple(t.replace(".", "/") for t in r.theirs), r.transpose) for r in rules)
    return dataclasses.replace(layout, embeddings=fix(layout.embeddings), layer=fix(layout.layer),
                               pooler=fix(layout.pooler), heads=fix(layout.heads))


TF = _tf_names(Layout(
    name="tensorflow",
    encoder_prefix="bert/",
    separator="/",
    embeddings=(
        Rule("embeddings.word_embeddings.weight", ("embeddings/word_embeddings",)),
        Rule("embeddings.position_embeddings.weight", ("embeddings/position_embeddings",)),
        Rule("embeddings.token_type_embeddings.weight", ("embeddings/token_type_embeddings",)),
        *_norm("embeddings.layer_norm", "embeddings/LayerNorm", weight="gamma", bias="beta"),
    ),
    layer=(
        *_qkv("layers.{i}.attention.qkv", tuple(f"encoder/layer_{{i}}/attention/self/{p}" for p in ("query", "key", "value")),
              transpose=False, weight="kernel"),
        *_linear("layers.{i}.attention.out", "encoder/layer_{i}/attention/output/dense", False, weight="kernel"),
        *_norm("layers.{i}.attention_norm", "encoder/layer_{i}/attention/output/LayerNorm", weight="gamma", bias="beta"),
        *_linear("layers.{i}.intermediate", "encoder/layer_{i}/intermediate/dense", False, weight="kernel"),
        *_linear("layers.{i}.output", "encoder/layer_{i}/output/dense", False, weight="kernel"),
        *_norm("layers.{i}.output_norm", "encoder/layer_{i}/output/LayerNorm", weight="gamma", bias="beta"),
    ),
    pooler=tuple(_linear("pooler.dense", "pooler/dense", False, weight="kernel")),
    heads=(
        *_linear("mlm.transform", "cls/predictions/transform/dense", False, weight="kernel"),
        *_norm("mlm.transform_norm", "cls/predictions/transform/LayerNorm", weight="gamma", bias="beta"),
        Rule("mlm.bias", ("cls/predictions/output_bias",)),
        # Google stores the NSP layer as output_weights [2, hidden]: [out, in].
        Rule("nsp.weight", ("cls/seq_relationship/output_weights",), transpose=True),
        Rule("nsp.bias", ("cls/seq_relationship/output_bias",)),
    ),
))

LAYOUTS = {layout.name: layout for layout in (HF, PADDLENLP, TF)}


def _expand(layout: Layout, num_layers: int):
    """(our full name, their full names, transpose) for every parameter a layout can hold."""
    for rule in layout.encoder_rules(num_layers):
        theirs = tuple(layout.encoder_prefix + t for t in rule.theirs)
        yield "bert." + rule.ours, theirs, rule.transpose
    for rule in layout.heads:
        yield rule.ours, rule.theirs, rule.transpose


class NameMapError(PaddleWwmError, KeyError):
    """A state dict whose names or shapes do not fit the layout it claims to be in."""

    def __str__(self):
        return self.args[0]


def strip_encoder_prefix(state: dict, layout: Layout) -> dict:
    """Checkpoints of a bare encoder (HF/PaddleNLP `BertModel`) have no `bert.` prefix: add it."""
    prefix = layout.encoder_prefix
    if any(name.startswith(prefix) for name in state):
        return state
    head_roots = {t.split(layout.separator)[0] for rule in layout.heads for t in rule.theirs}
    return {(name if name.split(layout.separator)[0] in head_roots else prefix + name): value
            for name, value in state.items()}


def to_ours(state: dict, layout: Layout, num_layers: int) -> tuple[dict, list[str]]:
    """Foreign state -> ours. Returns (our state, foreign names that no rule used)."""
    state = strip_encoder_prefix(state, layout)
    used: set[str] = set()
    ours: dict = {}
    for our_name, theirs, transpose in _expand(layout, num_layers):
        if not all(t in state for t in theirs):
            continue
        parts = [np.asarray(state[t]) for t in theirs]
        if transpose:
            parts = [p.T for p in parts]
        ours[our_name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        used.update(theirs)
    unused = sorted(set(state) - used)
    return ours, unused


def from_ours(state: dict, layout: Layout, num_layers: int) -> dict:
    """Our state -> foreign names and layouts. Every one of our parameters must find a rule."""
    out: dict = {}
    done: set[str] = set()
    for our_name, theirs, transpose in _expand(layout, num_layers):
        if our_name not in state:
            continue
        value = np.asarray(state[our_name])
        parts = np.split(value, len(theirs), axis=-1) if len(theirs) > 1 else [value]
        for name, part in zip(theirs, parts):
            out[name] = np.ascontiguousarray(part.T if transpose else part)
        done.add(our_name)
    missing = sorted(set(state) - done)
    if missing:
        raise NameMapError(f"the {layout.name} layout has no place for these parameters: {', '.join(missing)}")
    return out
