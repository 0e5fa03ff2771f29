"""Downloading a zoo model's files, with per-file fallback between sources (stdlib urllib + tqdm).

Sources, tried in this order for every file (`PADDLE_WWM_SOURCES=paddlenlp,huggingface` reorders):
1. the Hugging Face repo: `{HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/main/{file}`:
   config.json, vocab.txt, then model.safetensors or else pytorch_model.bin. Hugging Face publishes
   each file's size and hash: `X-Linked-Size` / `X-Linked-Etag` (the sha256) for LFS files, and a
   git blob sha1 as the ETag of small files; both are checked.
2. PaddleNLP's own hosting (the URLs of PaddleNLP 3's `pretrained_resource_files_map`), under
   `{PADDLE_WWM_PADDLENLP_ENDPOINT or https://bj.bcebos.com}/...`: model_state.pdparams and vocab.txt.
   PaddleNLP keeps those models' configs in its Python code, not as files: the caller writes the
   zoo's config.json when no source supplied one. Only the size is checked (no published hash).

Each file goes to `NAME.part`, resumes with an HTTP Range request after an interruption (within
the call, and in a later call that finds the `.part`), is checked, then renamed into place. A file
that fails its check is deleted and reported. `PADDLE_WWM_OFFLINE=1` (or `HF_HUB_OFFLINE=1`)
raises at once; when a required file comes from nowhere, one error lists every URL tried and why.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from paddle_wwm import zoo
from paddle_wwm.errors import PaddleWwmError

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
PADDLENLP_DEFAULT_ENDPOINT = "https://bj.bcebos.com"
USER_AGENT = "paddle-wwm"
CHUNK = 1 << 20

# zoo name -> (PaddleNLP name, weights path, vocab path) on PaddleNLP's hosting, as PaddleNLP 3.0
# lists them (paddlenlp/transformers/{bert,roberta}: pretrained_resource_files_map).
PADDLENLP_FILES = {
    "chinese-bert-wwm": ("bert-wwm-chinese", "paddlenlp/models/transformers/bert/bert-wwm-chinese.pdparams",
                         "paddlenlp/models/transformers/bert/bert-wwm-chinese-vocab.txt"),
    "chinese-bert-wwm-ext": ("bert-wwm-ext-chinese",
                             "paddlenlp/models/transformers/bert/bert-wwm-ext-chinese.pdparams",
                             "paddlenlp/models/transformers/bert/bert-wwm-ext-chinese-vocab.txt"),
    "chinese-roberta-wwm-ext": ("hfl/roberta-wwm-ext",
                                "paddlenlp/models/transformers/roberta_base/roberta_chn_base.pdparams",
                                "paddlenlp/models/transformers/roberta_base/vocab.txt"),
    "chinese-roberta-wwm-ext-large": ("hfl/roberta-wwm-ext-large",
                                      "paddlenlp/models/transformers/roberta_large/roberta_chn_large.pdparams",
                                      "paddlenlp/models/transformers/roberta_large/vocab.txt"),
    "rbt3": ("hfl/rbt3", "paddlenlp/models/transformers/rbt3/rbt3_chn_large.pdparams",
             "paddlenlp/models/transformers/rbt3/vocab.txt"),
    "rbtl3": ("hfl/rbtl3", "paddlenlp/models/transformers/rbtl3/rbtl3_chn_large.pdparams",
              "paddlenlp/models/transformers/rbtl3/vocab.txt"),
    "rbt4": ("hfl/rbt4", "paddlenlp/models/transformers/rbt4/rbt4_chn_large.pdparams",
             "paddlenlp/models/transformers/rbt4/vocab.txt"),
    "rbt6": ("hfl/rbt6", "paddlenlp/models/transformers/rbt6/rbt6_chn_large.pdparams",
             "paddlenlp/models/transformers/rbt6/vocab.txt"),
    "bert-base-chinese": ("bert-base-chinese", "paddlenlp/models/transformers/bert/bert-base-chinese.pdparams",
                          "paddle-hapi/models/bert/bert-base-chinese-vocab.txt"),
}


class DownloadError(PaddleWwmError, OSError):
    """No source could supply a required file (or downloads are switched off); an OSError too, so
    that callers catching network failures as OSError keep working. `tried` lists each URL tried
    with why it failed."""

    def __init__(self, message: str, tried=()):
        super().__init__(message)
        self.tried = list(tried)

    def __str__(self):
        return self.args[0]


@dataclass(frozen=True)
class RemoteFile:
    role: str  # "config", "vocab" or "weights": one file per role lands in the destination
    filename: str  # its name in the destination directory
    url: str
    hf_hashes: bool = False  # the server publishes Hugging Face's size and hash headers


@dataclass(frozen=True)
class Source:
    label: str
    files: tuple[RemoteFile, ...]  # within a role, in order of preference


def huggingface_source(repo: str, endpoint: str | None = None) -> Source:
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")
    files = (("config", "config.json"), ("vocab", "vocab.txt"), ("weights", "model.safetensors"),
             ("weights", "pytorch_model.bin"))
    return Source(f"Hugging Face ({repo})", tuple(
        RemoteFile(role, name, f"{endpoint}/{repo}/resolve/main/{name}", hf_hashes=True) for role, name in files))


def paddlenlp_source(zoo_name: str, endpoint: str | None = None) -> Source | None:
    if zoo_name not in PADDLENLP_FILES:
        return None
    endpoint = (endpoint or os.environ.get("PADDLE_WWM_PADDLENLP_ENDPOINT") or PADDLENLP_DEFAULT_ENDPOINT).rstrip("/")
    paddlenlp_name, weights, vocab = PADDLENLP_FILES[zoo_name]
    return Source(f"PaddleNLP ({paddlenlp_name})", (
        RemoteFile("weights", "model_state.pdparams", f"{endpoint}/{weights}"),
        RemoteFile("vocab", "vocab.txt", f"{endpoint}/{vocab}")))


SOURCE_KEYS = ("huggingface", "paddlenlp")


def sources_for(zoo_name: str, keys=None) -> list[Source]:
    """The sources of a zoo model (name or alias), in the order they are tried: `keys` (a subset of
    SOURCE_KEYS, in order), else $PADDLE_WWM_SOURCES, else Hugging Face then PaddleNLP."""
    item = zoo.entry(zoo_name)
    if keys is None:
        keys = os.environ.get("PADDLE_WWM_SOURCES", ",".join(SOURCE_KEYS)).replace(" ", "").split(",")
    unknown = [key for key in keys if key not in SOURCE_KEYS]
    if unknown:
        raise DownloadError(f"unknown download source {unknown[0]!r} (PADDLE_WWM_SOURCES or --source; "
                            f"known: {', '.join(SOURCE_KEYS)})")
    by_key = {"huggingface": huggingface_source(item.hf_repo), "paddlenlp": paddlenlp_source(item.name)}
    return [by_key[key] for key in keys if by_key[key] is not None]


def download_zoo_model(zoo_name: str, dest_dir, keys=None, **options) -> Path:
    """fetch_model_files for a zoo model's sources; the config.json may be missing (see above)."""
    sources = sources_for(zoo_name, keys)
    if not sources:
        raise DownloadError(f"{zoo_name} is not served by {' or '.join(keys)}; known sources of it: "
                            + ", ".join(s.label for s in sources_for(zoo_name, SOURCE_KEYS)))
    return fetch_model_files(sources, dest_dir, name=zoo.entry(zoo_name).name, **options)


def offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("PADDLE_WWM_OFFLINE", "HF_HUB_OFFLINE"))


def fetch_model_files(sources, dest_dir, required=("vocab", "weights"), optional=("config",), name: str | None = None,
                      timeout: float = 30.0, attempts: int = 3) -> Path:
    """Fetch one file per role into `dest_dir`, each from the first source that has it; returns `dest_dir`.

    Files already in `dest_dir` are kept. Raises DownloadError naming every URL tried and why when a
    required role cannot be fetched (optional ones are skipped), or at once when offline."""
    dest_dir = Path(dest_dir)
    fix = f"paddle-wwm import {name or 'NAME'} PATH" + ("" if name else " (NAME: the zoo name)")
    if offline():
        raise DownloadError("downloads are switched off (PADDLE_WWM_OFFLINE or HF_HUB_OFFLINE is set); "
                            f"get the checkpoint on a machine that can and run: {fix}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tried, missing = [], []
    for role in (*required, *optional):
        candidates = [f for source in sources for f in source.files if f.role == role]
        if any((dest_dir / f.filename).is_file() for f in candidates):
            continue
        for remote in candidates:
            try:
                download_file(remote, dest_dir / remote.filename, timeout=timeout, attempts=attempts)
                break
            except _NotThere as reason:
                tried.append(f"{remote.url}: {reason}")
            except DownloadError as error:
                tried.append(f"{remote.url}: {error}")
        else:
            if role in required:
                missing.append(role)
    if missing:
        raise DownloadError(f"could not download the {' and '.join(missing)} of {name or 'the model'} into "
                            f"{dest_dir}. Tried:\n  " + "\n  ".join(tried or ["no source offers it"])
                            + f"\nFix: download the checkpoint another way, then run: {fix}", tried)
    return dest_dir


class _NotThere(Exception):
    """The source does not have this file (404 and the like): try the next one."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # so that a redirect's own headers (Hugging Face's X-Linked-*) can be read


_HEAD_OPENER = urllib.request.build_opener(_NoRedirect)


def _expected(remote: RemoteFile, timeout: float) -> tuple[int | None, tuple[str, str] | None]:
    """(size, (hash name, hex digest)) that the server publishes for the file, as far as it does."""
    request = urllib.request.Request(remote.url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with _HEAD_OPENER.open(request, timeout=timeout) as response:
            headers, redirected = response.headers, False
    except urllib.error.HTTPError as error:
        if not 300 <= error.code < 400:
            raise
        headers, redirected = error.headers, True
    linked = headers.get("X-Linked-Size")
    size = int(linked) if linked else (None if redirected else _int(headers.get("Content-Length")))
    digest = None
    if remote.hf_hashes:
        etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").removeprefix("W/").strip('"').lower()
        if re.fullmatch(r"[0-9a-f]{64}", etag):
            digest = ("sha256", etag)
        elif re.fullmatch(r"[0-9a-f]{40}", etag) and not redirected:
            digest = ("git-sha1", etag)  # a small file kept in git: the ETag is its blob hash
    return size, digest


def _int(text) -> int | None:
    return int(text) if text and text.isdigit() else None


def _file_digest(path: Path, kind: str) -> str:
    hasher = hashlib.sha256() if kind == "sha256" else hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def download_file(remote: RemoteFile, destination: Path, timeout: float = 30.0, attempts: int = 3) -> None:
    """Fetch one file through `destination.part` (resuming what is there), check it, rename it."""
    try:
        size, digest = _expected(remote, timeout)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403, 404, 410):
            raise _NotThere(f"HTTP {error.code}") from None
        size, digest = None, None  # a server that refuses HEAD: the download's own headers will do
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise DownloadError(f"cannot reach the server ({getattr(error, 'reason', error)})") from None
    part = destination.with_name(destination.name + ".part")
    last_error = "no attempt made"
    for _ in range(max(1, attempts)):
        try:
            if _receive(remote, part, size, timeout):
                break
            last_error = "the connection closed before the end of the file"
        except urllib.error.HTTPError as error:
            if error.code in (401, 403, 404, 410):
                raise _NotThere(f"HTTP {error.code}") from None
            last_error = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            last_error = str(getattr(error, "reason", error)) or type(error).__name__
    else:
        raise DownloadError(f"{last_error} (after {attempts} attempts; {part.name} is kept to resume)")
    _check(part, size, digest)
    os.replace(part, destination)


def _receive(remote: RemoteFile, part: Path, size: int | None, timeout: float) -> bool:
    """Append the rest of the file to `part`; True when it is complete as far as the headers tell."""
    from tqdm import tqdm

    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return True
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={have}-"} if have else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(remote.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing after `have`: the .part is stale, start over
            part.unlink()
        raise
    with response:
        if response.status != 206:
            have = 0  # the server sent the whole file
        total = size if size is not None else _total(response, have)
        with open(part, "ab" if have else "wb") as handle, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name[:-len(".part")], leave=False, disable=None) as bar:
            while chunk := response.read(CHUNK):
                handle.write(chunk)
                have += len(chunk)
                bar.update(len(chunk))
    return total is None or have >= total


def _total(response, have: int) -> int | None:
    match = re.search(r"/(\d+)$", response.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = _int(response.headers.get("Content-Length"))
    return None if length is None else length + (have if response.status == 206 else 0)


def _check(part: Path, size: int | None, digest: tuple[str, str] | None) -> None:
    got = part.stat().st_size
    problem = None
    if size is not None and got != size:
        problem = f"{got} bytes, expected {size}"
    elif digest is not None and (actual := _file_digest(part, digest[0])) != digest[1]:
        problem = f"{digest[0]} {actual}, expected {digest[1]}"
    if problem:
        part.unlink()
        raise DownloadError(f"corrupted download ({problem}); the file was deleted")
