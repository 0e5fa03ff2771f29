"""Checkpoints as released: the seed's zips (e.g. `chinese_roberta_wwm_ext_L-12_H-768_A-12.zip`, a
folder holding bert_model.ckpt.*, bert_config.json and vocab.txt), the tar.gz copies PaddleNLP's
downloader lists, or such a folder once extracted.

`unpacked_checkpoint(path)` extracts an archive into a temporary directory (refusing members that
would land outside it: absolute paths, `..`, links), finds the one directory inside that holds a
model config and weights, and yields it for read_checkpoint; the temporary files go afterwards.
"""
from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .errors import CheckpointError

CONFIG_FILES = ("config.json", "model_config.json", "bert_config.json")
WEIGHT_PATTERNS = ("model.safetensors", "model_state.pdparams", "pytorch_model.bin", "*.ckpt.index", "*.index")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def is_archive(path) -> bool:
    path = Path(path)
    return path.is_file() and (path.name.lower().endswith(ARCHIVE_SUFFIXES) or zipfile.is_zipfile(path))


def _member_target(root: Path, name: str, archive: Path) -> Path:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise CheckpointError(f"{archive}: refusing the member {name!r}, whose path leaves the extraction folder")
    return root.joinpath(*parts)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract regular files and folders of a zip or tar into `dest`; anything else is refused."""
    archive, dest = Path(archive), Path(dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                target = _member_target(dest, info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise CheckpointError(f"{archive}: refusing the symbolic link {info.filename!r}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
        return
    try:
        bundle = tarfile.open(archive)
    except tarfile.TarError as error:
        raise CheckpointError(f"{archive}: neither a zip nor a tar archive ({error})") from None
    with bundle:
        for member in bundle:
            target = _member_target(dest, member.name, archive)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.extractfile(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            else:
                raise CheckpointError(f"{archive}: refusing {member.name!r}, which is not a regular file or folder")


def _is_checkpoint_dir(directory: Path) -> bool:
    has_config = any((directory / name).is_file() for name in CONFIG_FILES)
    return has_config and any(next(directory.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def find_checkpoint_dir(root) -> Path:
    """The directory at or under `root` that holds a model config and weights (the shallowest one)."""
    root = Path(root)
    found = sorted((d for d in (root, *(p for p in root.rglob("*") if p.is_dir())) if _is_checkpoint_dir(d)),
                   key=lambda d: (len(d.relative_to(root).parts), str(d)))
    if not found:
        raise CheckpointError(f"{root}: no checkpoint inside (no folder with {' or '.join(CONFIG_FILES)} "
                              "next to weights such as bert_model.ckpt.index or pytorch_model.bin)")
    depth = len(found[0].relative_to(root).parts)
    same_depth = [d for d in found if len(d.relative_to(root).parts) == depth]
    if len(same_depth) > 1:
        names = ", ".join(str(d.relative_to(root)) for d in same_depth)
        raise CheckpointError(f"{root}: several checkpoints inside ({names}); give the one to use")
    return found[0]


@contextlib.contextmanager
def unpacked_checkpoint(path, work_dir=None):
    """Yield the checkpoint directory for a directory, or for a zip/tar archive (extracted into a
    temporary directory under `work_dir` that is removed afterwards); any other path as it is."""
    path = Path(path)
    if path.is_dir():
        yield find_checkpoint_dir(path)
        return
    if not is_archive(path):  # a weights file or TF checkpoint prefix: read_checkpoint's business
        yield path
        return
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix="unpacked-", dir=work_dir))
    try:
        safe_extract(path, temporary)
        yield find_checkpoint_dir(temporary)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
