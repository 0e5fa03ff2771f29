"""PaddleHub module directories: ``hub_modules/<name>/module.py`` for the zoo, modules that
carry a checkpoint's weights (``paddle-wwm hub package``), and ``paddle-wwm hub install``.

Every module.py is the same few lines over ``paddle_wwm.integrations.hub_module``'s base class,
written from one template (the committed ``hub_modules/`` is checked against it by the tests).
PaddleHub is imported only by ``install``.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from paddle_wwm.atomic_files import write_dir_atomic
from paddle_wwm.errors import PaddleWwmError

BUNDLED_WEIGHTS = "weights"
CHECKOUT_MODULES = Path(__file__).resolve().parents[2] / "hub_modules"  # a source checkout's; a wheel has none
# PaddleHub imports an installed module as a Python package named after it (- becomes _).
_MODULE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class HubModuleError(PaddleWwmError, ValueError):
    pass


MODULE_TEMPLATE = '''"""PaddleHub module {name} (paddle-wwm).

{summary}

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name={name!r},
    version={version!r},
    summary={summary!r},
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class {class_name}(WWMTransformerModule):
    zoo_name = {zoo_name!r}
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def module_source(name: str, summary: str, zoo_name: str | None) -> str:
    from paddle_wwm import __version__

    return MODULE_TEMPLATE.format(name=name, summary=summary, version=__version__, class_name=class_name(name),
                                  zoo_name=zoo_name)


def zoo_module_names() -> dict[str, str]:
    """hub module name -> zoo name: every zoo model of the family, plus PaddleHub's later names
    (roberta-wwm-ext, roberta-wwm-ext-large) as aliases."""
    from paddle_wwm import zoo

    names = {item.name: item.name for item in zoo.ZOO if item.name != "bert-base-chinese"}
    names.update({"roberta-wwm-ext": "chinese-roberta-wwm-ext", "roberta-wwm-ext-large": "chinese-roberta-wwm-ext-large"})
    return names


def write_module_dir(out, name: str, summary: str, zoo_name: str | None = None, weights=None,
                     overwrite: bool = False) -> Path:
    """A PaddleHub module directory: module.py, and for a packaged checkpoint its weights in
    ``weights/`` (our safetensors layout). Written aside and renamed into place."""
    from paddle_wwm.checkpoints.layouts import read_checkpoint, write_checkpoint

    out = Path(out)
    if not _MODULE_NAME.match(name):
        raise HubModuleError(f"module name {name!r}: use letters, digits, '-' and '_', starting with a letter")
    if (zoo_name is None) == (weights is None):
        raise ValueError("give exactly one of zoo_name and weights")
    checkpoint = read_checkpoint(weights) if weights is not None else None

    def write(directory: Path) -> None:
        (directory / "module.py").write_text(module_source(name, summary, zoo_name), encoding="utf-8")
        if checkpoint is not None:
            write_checkpoint(checkpoint, directory / BUNDLED_WEIGHTS)

    return write_dir_atomic(out, write, overwrite=overwrite)


def zoo_module_summary(name: str) -> str:
    from paddle_wwm import zoo

    item = zoo.entry(zoo_module_names()[name])
    config = zoo.zoo_config(item.name)
    return (f"{item.description} ({config.num_hidden_layers} layers, hidden {config.hidden_size}, "
            f"{config.num_attention_heads} heads; weights {item.hf_repo})")


def write_zoo_modules(root) -> list[Path]:
    """Maintenance: (re)write hub_modules/<name>/module.py for every zoo module name."""
    return [write_module_dir(Path(root) / name, name, zoo_module_summary(name), zoo_name=zoo_name, overwrite=True)
            for name, zoo_name in zoo_module_names().items()]


def install(name_or_dir) -> type:
    """``hub install`` for a zoo module name or a module directory; returns the module class
    PaddleHub installed into ``$HUB_HOME/modules``. A zoo name installs ``hub_modules/NAME`` of a
    checkout, or (an installed wheel has no hub_modules/) the same module.py written afresh."""
    from paddlehub.module.manager import LocalModuleManager

    directory, name = Path(name_or_dir), str(name_or_dir)
    if (directory / "module.py").is_file():
        return LocalModuleManager().install(directory=str(directory))
    names = zoo_module_names()
    if name not in names:
        raise HubModuleError(f"{name!r} is neither a module directory (with module.py) nor a zoo "
                             f"module; zoo modules: {', '.join(names)}")
    checkout = CHECKOUT_MODULES / name
    if (checkout / "module.py").is_file():
        return LocalModuleManager().install(directory=str(checkout))
    with tempfile.TemporaryDirectory() as tmp:
        module_dir = write_module_dir(Path(tmp) / name, name, zoo_module_summary(name), zoo_name=names[name])
        return LocalModuleManager().install(directory=str(module_dir))


__all__ = ["BUNDLED_WEIGHTS", "HubModuleError", "install", "write_module_dir", "module_source", "zoo_module_names",
           "zoo_module_summary", "write_zoo_modules"]
