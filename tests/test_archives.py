"""The seed's checkpoint zips (and PaddleNLP's tar.gz copies) accepted as downloaded or extracted."""
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hidden_imports import run_without_torch_and_tensorflow
from paddle_wwm.checkpoints import CheckpointError, read_checkpoint
from paddle_wwm.checkpoints.archives import unpacked_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny"
FOLDER = "chinese_roberta_wwm_ext_L-12_H-768_A-12"


def seed_zip(path, extra=()):
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(FOLDER + "/", "")
        for file in sorted(FIXTURE.iterdir()):
            bundle.write(file, f"{FOLDER}/{file.name}")
        for name, data in extra:
            bundle.writestr(name, data)
    return path


def assert_same_as_fixture_state(directory):
    ours, reference = read_checkpoint(directory), read_checkpoint(FIXTURE)
    assert ours.config == reference.config and ours.state.keys() == reference.state.keys()
    assert all(np.array_equal(ours.state[k], reference.state[k]) for k in reference.state)


def assert_same_as_fixture(directory):
    assert read_checkpoint(directory).layout == "tensorflow"
    assert_same_as_fixture_state(directory)


def assert_refused(archive, work_dir, match):
    with pytest.raises(CheckpointError, match=match):
        with unpacked_checkpoint(archive, work_dir=work_dir):
            pass


def test_the_seed_zip_as_downloaded(tmp_path):
    archive = seed_zip(tmp_path / f"{FOLDER}.zip")
    with unpacked_checkpoint(archive, work_dir=tmp_path) as directory:
        assert directory.name == FOLDER and directory.parent.parent == tmp_path
        assert_same_as_fixture(directory)
        unpacked = directory.parent
    assert not unpacked.exists()


def test_the_extracted_folder_and_its_parent(tmp_path):
    with zipfile.ZipFile(seed_zip(tmp_path / "seed.zip")) as bundle:
        bundle.extractall(tmp_path / "downloads")
    for given in (tmp_path / "downloads", tmp_path / "downloads" / FOLDER):
        with unpacked_checkpoint(given) as directory:
            assert directory == tmp_path / "downloads" / FOLDER
            assert_same_as_fixture(directory)


def test_a_tar_gz_copy(tmp_path):
    archive = tmp_path / f"{FOLDER}.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(FIXTURE, arcname=FOLDER)
    with unpacked_checkpoint(archive, work_dir=tmp_path) as directory:
        assert_same_as_fixture(directory)


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/absolute.txt", f"{FOLDER}/../../escaped.txt"])
def test_a_member_that_leaves_the_folder_is_refused(tmp_path, member):
    archive = seed_zip(tmp_path / "evil.zip", extra=[(member, "x")])
    with pytest.raises(CheckpointError, match=r"evil.zip: refusing the member .*leaves the extraction folder"):
        with unpacked_checkpoint(archive, work_dir=tmp_path / "work"):
            pass
    assert not (tmp_path / "escaped.txt").exists() and not list((tmp_path / "work").iterdir())


def test_a_link_in_a_tar_is_refused(tmp_path):
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as bundle:
        link = tarfile.TarInfo(f"{FOLDER}/vocab.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
    assert_refused(archive, tmp_path, "not a regular file or folder")


def test_an_archive_without_a_checkpoint_says_so(tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("README.txt", "nothing here")
    assert_refused(archive, tmp_path, "no checkpoint inside")


def test_two_checkpoints_side_by_side_are_ambiguous(tmp_path):
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for folder in ("a", "b"):
            for file in FIXTURE.iterdir():
                bundle.write(file, f"{folder}/{file.name}")
    assert_refused(archive, tmp_path, r"several checkpoints inside \(a, b\)")


def test_converting_the_seed_zip_needs_neither_paddle_nor_torch_nor_tensorflow(tmp_path):
    archive = seed_zip(tmp_path / f"{FOLDER}.zip")
    result = run_without_torch_and_tensorflow("""
from paddle_wwm.checkpoints import convert
checkpoint = convert(sys.argv[2], sys.argv[3])
result = (checkpoint.layout, sorted(name for name in sys.modules if name.split(".")[0] == "paddle"))
""", tmp_path, archive, tmp_path / "converted")
    assert result == ("tensorflow", [])
    assert_same_as_fixture_state(tmp_path / "converted")
