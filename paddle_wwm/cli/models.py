"""Commands on models and checkpoints: zoo, download, convert, import, export, hub, fill-mask."""
from __future__ import annotations

import json


def cmd_zoo(args) -> int:
    from paddle_wwm import store

    print(json.dumps(store.listing(), indent=2, ensure_ascii=False) if args.json else store.listing_table())
    return 0


def cmd_download(args) -> int:
    from paddle_wwm import store, zoo

    name = zoo.entry(args.name).name
    already = None if args.force else store.in_store(name)
    out = already or store.download(name, sources=[args.source] if args.source else None, force=args.force)
    print(f"{name} is already in the store: {out} (--force downloads it again)" if already
          else f"downloaded {name} -> {out}")
    return 0


def cmd_convert(args) -> int:
    from paddle_wwm.checkpoints import convert

    checkpoint = convert(args.src, args.dst, layout=args.to, overwrite=args.overwrite)
    print(f"{args.src} ({checkpoint.layout}, {checkpoint.architecture}, {len(checkpoint.state)} tensors) "
          f"-> {args.dst} ({args.to})")
    return 0


def cmd_import(args) -> int:
    from paddle_wwm import store, zoo

    out = store.import_model(args.name, args.src, overwrite=args.overwrite)
    print(f"imported {args.src} as {zoo.entry(args.name).name} -> {out}")
    return 0


def cmd_export(args) -> int:
    from paddle_wwm.integrations.export import export

    out = export(args.src, args.out, args.format, overwrite=args.overwrite, precision=args.precision,
                 calibration=args.calibration)
    print(f"{args.src} -> {out} ({args.format}{', int8' if args.precision == 'int8' else ''})")
    return 0


def cmd_hub(args) -> int:
    from paddle_wwm.integrations import hub_packaging

    if args.hub_command == "package":
        out = hub_packaging.write_module_dir(args.out, args.name, args.summary or f"{args.name}, packaged from {args.src}",
                                          weights=args.src, overwrite=args.overwrite)
        print(f"{args.src} -> {out} (module.py + weights/); install it with: paddle-wwm hub install {out}")
        return 0
    installed = hub_packaging.install(args.target)
    print(f"installed {installed.name} {installed.version} -> {installed.directory}\n"
          f'use it: hub.Module(name="{installed.name}", task="seq-cls", num_classes=2)')
    return 0


def cmd_fill_mask(args) -> int:
    from paddle_wwm.modeling.fill_mask import fill_mask
    from paddle_wwm.pretraining.mlm_head import load_masked_lm

    model, tokenizer = load_masked_lm(args.model)
    fillings = fill_mask(model, tokenizer, args.text, top_k=args.top_k, beam_size=args.beam_size)
    if args.json:
        print(json.dumps([f.to_dict() for f in fillings], indent=1, ensure_ascii=False))
        return 0
    for rank, filling in enumerate(fillings, 1):
        print(f"{rank}. {filling.probability:.4f}  {' '.join(filling.tokens)}  {filling.sequence}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("zoo", help="list the models, their sizes and where their weights are")
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("download", help="download a zoo model into the store (Hugging Face, then PaddleNLP's hosting)")
    p.add_argument("name", help="zoo name or alias, e.g. chinese-roberta-wwm-ext")
    p.add_argument("--source", choices=["huggingface", "paddlenlp"], default=None,
                   help="only this source (default: each file from the first source that has it; "
                        "HF_ENDPOINT sets a Hugging Face mirror)")
    p.add_argument("--force", action="store_true", help="download again even if the store has the model")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("convert", help="convert a checkpoint between layouts (reads HF, PaddleNLP, TF, ours)")
    p.add_argument("src", help="checkpoint directory, TF checkpoint prefix, or a zip/tar.gz of one")
    p.add_argument("dst", help="output directory")
    p.add_argument("--to", default="paddle_wwm", choices=["paddle_wwm", "huggingface", "paddlenlp"])
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("import", help="put a checkpoint into the model store under a zoo name")
    p.add_argument("name", help="zoo name or alias, e.g. chinese-roberta-wwm-ext")
    p.add_argument("src", help="checkpoint directory in any supported layout (safetensors, pytorch_model.bin, "
                                "model_state.pdparams, TF checkpoint), or the seed's zip / a tar.gz of one")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_import)


def add_serving_commands(sub) -> None:
    from paddle_wwm.integrations.export import FORMATS as EXPORT_FORMATS
    from paddle_wwm.integrations.export import ONNX_OPSET
    from paddle_wwm.integrations.quantize import PRECISIONS

    p = sub.add_parser("export", help="export a model for PaddleNLP Taskflow, Paddle Inference or ONNX")
    p.add_argument("src", help="zoo name, alias or checkpoint directory")
    p.add_argument("out", help="output directory")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                   help="taskflow: a PaddleNLP task_path (text_classification for a classifier, fill_mask "
                        "for a model with an MLM head); inference: paddle.jit.save for a Paddle Inference "
                        f"predictor; onnx: model.onnx (opset {ONNX_OPSET}) for onnxruntime")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="int8 (with --format onnx): ONNX Runtime post-training quantization of the MatMuls, "
                        "dynamic unless --calibration is given")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="int8: static quantization calibrated on these texts (one per line, or a TSV with a "
                        "text_a column)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("fill-mask", help="the likeliest tokens for the [MASK]s of a text (a whole word's "
                                         "masks jointly), with probabilities")
    p.add_argument("model", help="zoo name, alias or checkpoint directory with a trained MLM head")
    p.add_argument("text", help='text with [MASK] tokens, e.g. "北京是中国的[MASK]都。"')
    p.add_argument("--top-k", type=int, default=5, help="fillings to print (default 5)")
    p.add_argument("--beam-size", type=int, default=None, help="candidates kept per mask (default the larger of top-k and 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_fill_mask)

    p = sub.add_parser("hub", help="PaddleHub modules: install a zoo module, or package a checkpoint as one")
    hub_sub = p.add_subparsers(dest="hub_command", required=True)
    q = hub_sub.add_parser("install", help="install into $HUB_HOME/modules (then hub.Module(name=...) loads it)")
    q.add_argument("target", help="zoo module name (e.g. chinese-roberta-wwm-ext, roberta-wwm-ext) or a module directory")
    q.set_defaults(func=cmd_hub)
    q = hub_sub.add_parser("package", help="write a module directory that carries a checkpoint's weights")
    q.add_argument("src", help="checkpoint directory in any supported layout")
    q.add_argument("out", help="output module directory")
    q.add_argument("--name", required=True, help="the module's name for hub.Module(name=...)")
    q.add_argument("--summary", default=None)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_hub)
