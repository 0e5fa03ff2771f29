"""Commands on models and checkpoints: zoo, convert, import, export, hub."""
from __future__ import annotations

import json


def cmd_zoo(args) -> int:
    from paddle_wwm import store

    print(json.dumps(store.listing(), indent=2, ensure_ascii=False) if args.json else store.listing_table())
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


def add_commands(sub) -> None:
    p = sub.add_parser("zoo", help="list the models, their sizes and where their weights are")
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("convert", help="convert a checkpoint between layouts (reads HF, PaddleNLP, TF, ours)")
    p.add_argument("src", help="checkpoint directory (or TF checkpoint prefix)")
    p.add_argument("dst", help="output directory")
    p.add_argument("--to", default="paddle_wwm", choices=["paddle_wwm", "huggingface", "paddlenlp"])
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("import", help="put a checkpoint into the model store under a zoo name")
    p.add_argument("name", help="zoo name or alias, e.g. chinese-roberta-wwm-ext")
    p.add_argument("src", help="checkpoint directory in any supported layout")
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
