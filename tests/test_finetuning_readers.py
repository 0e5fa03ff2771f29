"""Task readers of the eight fine-tuning benchmarks on excerpts of the real files (expected values
checked by hand against the fixtures), malformed input reported by file:line, and check-data."""
import json
from pathlib import Path

import pytest

from paddle_wwm.cli import main
from paddle_wwm.finetuning.examples import NO, SPAN, UNANSWERABLE, YES, Answer, ClassificationExample
from paddle_wwm.finetuning.mrc_metric import TASK_METRIC
from paddle_wwm.finetuning.readers import TASKS, DataError, data_summary, read_examples, split_path

FIXTURES = Path(__file__).parent / "fixtures" / "finetuning"


def read(task, name):
    return read_examples(task, FIXTURES / task / name)


def by_qid(result):
    return {example.qid: example for example in result.examples}


# -- the registry ------------------------------------------------------------------------------

def test_registry_names_kinds_metrics_and_file_names():
    assert set(TASKS) == {"xnli", "chnsenticorp", "lcqmc", "bq", "thucnews", "cmrc2018", "drcd", "cjrc"}
    for name, spec in TASKS.items():
        span = name in ("cmrc2018", "drcd", "cjrc")
        assert spec.kind == ("span" if span else "classification")
        assert set(spec.files) == {"train", "dev", "test"}
        assert bool(spec.labels) != span
    assert TASKS["bq"].files == {"train": "BQ.train.data", "dev": "BQ.valid.data", "test": "BQ.test.data"}
    assert TASKS["cmrc2018"].files["test"] == "cmrc2018_trial.json"
    assert TASKS["drcd"].files["train"] == "DRCD_training.json"
    assert TASKS["cjrc"].files == {"train": "big_train_data.json", "dev": "dev_ground_truth.json",
                                   "test": "test_ground_truth.json"}
    assert TASKS["thucnews"].files["dev"] == "cnews.val.txt"
    assert TASKS["thucnews"].labels == ("体育", "财经", "房产", "家居", "教育", "科技", "时尚", "时政", "游戏", "娱乐")
    assert TASKS["chnsenticorp"].labels == TASKS["lcqmc"].labels == TASKS["bq"].labels == ("0", "1")
    # the span tasks' official metrics: CMRC 2018's script also scores DRCD; CJRC has CAIL 2019's
    assert TASK_METRIC == {"cmrc2018": "cmrc2018", "drcd": "cmrc2018", "cjrc": "cjrc"}


def test_xnli_label_order_is_the_label_map_of_the_distribution():
    label_map = json.loads((FIXTURES / "xnli" / "label_map.json").read_text(encoding="utf-8"))
    labels = TASKS["xnli"].labels
    assert labels == ("contradiction", "entailment", "neutral")
    for name, index in label_map.items():
        assert labels[index] == TASKS["xnli"].label_aliases.get(name, name)


def test_split_path_finds_the_usual_names_and_names_a_missing_file(tmp_path):
    assert split_path("thucnews", FIXTURES / "thucnews", "dev") == FIXTURES / "thucnews" / "cnews.val.txt"
    assert split_path("bq", FIXTURES / "bq", "dev").name == "BQ.valid.data"
    assert split_path("cmrc2018", FIXTURES / "cmrc2018", "test").name == "cmrc2018_trial.json"
    with pytest.raises(FileNotFoundError, match="BQ.train.data"):
        split_path("bq", FIXTURES / "bq", "train")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        split_path("bq", FIXTURES / "bq", "valid")


def test_unknown_task_lists_the_tasks():
    with pytest.raises(ValueError, match="unknown task 'cnews'; tasks: xnli, chnsenticorp, lcqmc, bq, thucnews"):
        read_examples("cnews", FIXTURES / "thucnews" / "cnews.val.txt")


# -- classification ----------------------------------------------------------------------------

def test_xnli_dev_skips_the_header_and_maps_labels():
    result = read("xnli", "dev.tsv")
    assert result.skipped == {} and len(result.examples) == 5
    first = result.examples[0]
    assert first == ClassificationExample(guid="xnli-dev.tsv-0", text_a="他说，妈妈，我回来了。",
                                          text_b="校车把他放下后，他立即给他妈妈打了电话。", label=2,
                                          where=f"{FIXTURES / 'xnli' / 'dev.tsv'}:2")
    assert [e.label for e in result.examples] == [2, 0, 1, 2, 0]  # neutral contradiction entailment ...
    assert result.examples[4].text_b == "在我游行到华盛顿的时候我知道我要什么"
    assert [e.label for e in read("xnli", "test.tsv").examples] == [0, 1, 2, 2, 1]


def test_chnsenticorp_single_sentences():
    result = read("chnsenticorp", "dev.tsv")
    assert [e.label for e in result.examples] == [1, 1, 0, 1, 1]
    assert all(e.text_b is None for e in result.examples)
    assert result.examples[0].text_a.startswith("這間酒店環境和服務態度亦算不錯")
    assert result.examples[2].text_a == "商品的不足暂时还没发现，京东的订单处理速度实在.......周二就打包完成，周五才发货..."
    assert [e.label for e in read("chnsenticorp", "train.tsv").examples] == [1, 1, 0, 0, 1]
    assert [e.label for e in read("chnsenticorp", "test.tsv").examples] == [1, 0, 0, 1, 1]


def test_lcqmc_and_bq_have_no_header():
    lcqmc = read("lcqmc", "dev.txt").examples
    assert len(lcqmc) == 5 and lcqmc[0].where.endswith("dev.txt:1")
    assert (lcqmc[0].text_a, lcqmc[0].text_b, lcqmc[0].label) == ("开初婚未育证明怎么弄？", "初婚未育情况证明怎么开？", 1)
    assert [e.label for e in lcqmc] == [1, 0, 1, 0, 1]
    assert [e.label for e in read("lcqmc", "test.txt").examples] == [0, 1, 0, 1, 0]
    bq = read("bq", "BQ.valid.data").examples
    assert (bq[4].text_a, bq[4].text_b, bq[4].label) == ("什么时候可以知道借款成功", "2.多笔借款", 0)
    assert [e.label for e in bq] == [0, 0, 1, 0, 0]
    assert read("bq", "BQ.test.data").examples[4].text_a == "今天借 明天还款可以？"  # inner space kept


def test_thucnews_ten_labels_in_fixed_order():
    result = read("thucnews", "cnews.val.txt")
    assert len(result.examples) == 20
    assert [e.label for e in result.examples] == list(range(10)) + list(range(9, -1, -1))
    assert result.examples[0].text_a.startswith("主队在补时阶段") and result.examples[0].text_b is None
    summary = data_summary("thucnews", FIXTURES / "thucnews" / "cnews.val.txt")
    assert summary["labels"] == {label: 2 for label in TASKS["thucnews"].labels}
    assert list(summary["labels"])[:3] == ["体育", "财经", "房产"]


def test_fields_are_stripped_and_aliases_and_crlf_accepted(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes("text_a\ttext_b\tlabel\r\n 前提 \t假设\tcontradictory\r\n前提\t假设 \t neutral\r\n".encode())
    examples = read_examples("xnli", path).examples
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [("前提", "假设", 0), ("前提", "假设", 2)]


# -- span extraction ---------------------------------------------------------------------------

def test_cmrc2018_trial_skips_empty_questions_and_corrects_off_by_one_starts():
    result = read("cmrc2018", "cmrc2018_trial.json")
    assert len(result.examples) == 8  # 9 questions, TRIAL_20_QUERY_0 has an empty question
    assert result.skipped == {"empty question": 1}
    trial = FIXTURES / "cmrc2018" / "cmrc2018_trial.json"
    assert result.skipped_where == [f"{trial}: TRIAL_20_QUERY_0: empty question"]
    assert result.warnings == {"answer_start corrected": 5}
    examples = by_qid(result)
    assert "TRIAL_20_QUERY_0" not in examples
    query = examples["TRIAL_210_QUERY_0"]
    assert query.question == "蓝线裸顶鲷的俗名是什么？" and query.answer_type == SPAN
    assert query.answers == (Answer("俗名龙尖", 13),)  # the file says 14
    assert examples["TRIAL_210_QUERY_4"].answers == (Answer("以甲壳类、头足类和小鱼为食", 352),)
    assert examples["TRIAL_20_QUERY_2"].answers == (Answer("东那须野", 110),)  # a correct start is kept


def test_cmrc2018_dev_keeps_all_three_answers():
    result = read("cmrc2018", "cmrc2018_dev.json")
    assert len(result.examples) == 8 and result.skipped == {}
    assert all(len(e.answers) == 3 for e in result.examples)
    assert result.warnings == {"answer not in context (kept, start -1)": 1, "answer_start corrected": 3}
    examples = by_qid(result)
    assert examples["DEV_6_QUERY_0"].answers == (Answer("足球运动员", 7),) * 3
    free_text = examples["DEV_6_QUERY_2"].answers
    assert [a.start for a in free_text] == [165, -1, 130]
    assert free_text[1].text == "2010年是邹游在河南建业効力的最后一个赛季更无法得到出场机会。"
    assert examples["DEV_101_QUERY_3"].answers == (Answer("灭司马家族", 174), Answer("灭司马家族", 174),
                                                   Answer("消灭司马家族", 173))
    assert examples["DEV_6_QUERY_1"].where == f"{FIXTURES / 'cmrc2018' / 'cmrc2018_dev.json'}: DEV_6_QUERY_1"


def test_drcd_traditional_chinese_two_answers():
    dev = read("drcd", "DRCD_dev.json")
    assert [e.qid for e in dev.examples] == ["1147-5-1", "1147-5-2", "1147-5-3"]
    assert dev.examples[0].question == "陸特和漢斯雷頓開創了哪一地區對梵語的學術研究？"
    assert dev.examples[0].answers == (Answer("歐洲", 1), Answer("歐洲", 1))
    assert dev.examples[2].answers[0] == Answer("威廉·瓊斯", 108)
    assert dev.warnings == {} and dev.skipped == {}
    test = read("drcd", "DRCD_test.json")
    assert test.examples[1].answers == (Answer("八篇書", 133), Answer("《八篇書》", 132))


def test_cjrc_yes_no_unanswerable_and_spans():
    result = read("cjrc", "dev_ground_truth.json")
    examples = result.examples
    assert [e.qid for e in examples] == [f"720_{i}" for i in range(1, 7)]
    assert [e.answer_type for e in examples] == [YES, SPAN, SPAN, NO, SPAN, UNANSWERABLE]
    assert examples[0].answers == (Answer("YES", -1),) * 3
    assert examples[2].answers == (Answer("2014年9月22日", 258), Answer("2014年9月22日", 258),
                                   Answer("2014年11月6日", 300))
    assert examples[3].answers == (Answer("NO", -1),) * 3
    assert examples[5].answers == (Answer("", -1),) * 3
    assert examples[5].question == "孟某甲到案后是否如是认罪？"
    assert result.warnings == {} and result.skipped == {}


def test_cjrc_is_impossible_decides_over_span_answers():
    examples = by_qid(read("cjrc", "test_ground_truth.json"))
    assert [e.answer_type for e in examples.values()] == [YES, SPAN, SPAN, UNANSWERABLE, UNANSWERABLE, UNANSWERABLE]
    assert examples["568_5"].answers == (Answer("临淄交警大队事故处理科民警", 44),) * 3
    assert examples["568_2"].answers[2] == Answer("踢打、抓扯等暴力方法", 95)


def test_every_fixture_span_answer_points_at_its_text():
    for task in ("cmrc2018", "drcd", "cjrc"):
        for path in sorted((FIXTURES / task).glob("*.json")):
            for example in read_examples(task, path).examples:
                for answer in example.answers:
                    if answer.start >= 0:
                        assert example.context[answer.start:answer.start + len(answer.text)] == answer.text


# -- malformed input ---------------------------------------------------------------------------

def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "dev.txt", "问题一\t问题二\t1\n问题三\t0\n")
    with pytest.raises(DataError, match=r"dev\.txt:2: 2 tab-separated fields, expected 3"):
        read_examples("lcqmc", path)


def test_unknown_label_names_file_and_line(tmp_path):
    path = write(tmp_path, "dev.tsv", "text_a\ttext_b\tlabel\n甲\t乙\tneutral\n甲\t乙\tmaybe\n")
    with pytest.raises(DataError, match=r"dev\.tsv:3: label 'maybe' is not one of contradiction, entailment"):
        read_examples("xnli", path)
    header_later = write(tmp_path, "later.tsv", "1\t好\nlabel\ttext_a\n")  # a header only on line 1
    with pytest.raises(DataError, match=r"later\.tsv:2: label 'label'"):
        read_examples("chnsenticorp", header_later)


def test_empty_text_names_file_and_line(tmp_path):
    path = write(tmp_path, "cnews.val.txt", "体育\t比赛结束\n财经\t  \n")
    with pytest.raises(DataError, match=r"cnews\.val\.txt:2: empty text_a"):
        read_examples("thucnews", path)


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = write(tmp_path, "BQ.valid.data", "好\t好\t1\n".encode() + b"\xff\xfe\t\xe5\x8f\n")
    with pytest.raises(DataError, match=r"BQ\.valid\.data:2: not UTF-8"):
        read_examples("bq", path)
    json_path = write(tmp_path, "dev.json", b'{"data": [\n{"paragraphs": [\n{"context": "\xc3\x28"}]}]}')
    with pytest.raises(DataError, match=r"dev\.json:3: not UTF-8"):
        read_examples("cmrc2018", json_path)


def test_invalid_json_names_file_and_line(tmp_path):
    path = write(tmp_path, "cmrc2018_dev.json", '{"data": [\n  {"paragraphs": []},\n  {"paragraphs": [}\n]}\n')
    with pytest.raises(DataError, match=r"cmrc2018_dev\.json:3: invalid JSON"):
        read_examples("cmrc2018", path)


def squad(qa, context="上海是中国的城市。"):
    return json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}, ensure_ascii=False)


def test_the_reader_and_the_metric_share_one_squad_reader(tmp_path):
    """A key given twice in one object is refused by the task reader as by the metric (one JSON
    loader), and CMRC 2018's original release format is read by both."""
    from paddle_wwm.finetuning.mrc_metric import load_references

    doubled = write(tmp_path, "dup.json", '{"data": [], "data": []}')
    for read_file in (lambda path: read_examples("cmrc2018", path), lambda path: load_references(path, "cmrc2018")):
        with pytest.raises(DataError, match=r"dup\.json: duplicate key 'data'"):
            read_file(doubled)
    original = write(tmp_path, "orig.json", json.dumps([{"context": "上海是城市", "qas": [
        {"query_id": "C1_Q1", "question": "哪里？", "answers": [{"text": "上海", "answer_start": 0}]}]}]))
    (example,) = read_examples("cmrc2018", original).examples
    assert (example.qid, example.answers) == ("C1_Q1", (Answer("上海", 0),))
    assert load_references(original, "cmrc2018") == {"C1_Q1": ["上海"]}


def test_missing_key_and_wrong_type_name_the_question(tmp_path):
    path = write(tmp_path, "a.json", squad({"id": "Q1", "question": "哪里？"}))
    with pytest.raises(DataError, match=r"a\.json: Q1: missing key 'answers'"):
        read_examples("drcd", path)
    path = write(tmp_path, "b.json", squad({"id": "Q2", "question": "哪里？", "answers": [{"text": "上海",
                                                                                            "answer_start": "0"}]}))
    with pytest.raises(DataError, match=r"b\.json: Q2: answers\[0\]: 'answer_start' should be int, got str"):
        read_examples("drcd", path)
    path = write(tmp_path, "c.json", json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}))
    with pytest.raises(DataError, match=r"c\.json: data\[0\]\.paragraphs\[0\]: missing key 'context'"):
        read_examples("cmrc2018", path)


def test_duplicate_ids_and_bad_is_impossible(tmp_path):
    qa = {"id": "Q1", "question": "哪里？", "answers": [{"text": "上海", "answer_start": 0}]}
    doubled = json.dumps({"data": [{"paragraphs": [{"context": "上海", "qas": [qa, qa]}]}]}, ensure_ascii=False)
    with pytest.raises(DataError, match=r"d\.json: Q1: duplicate question id"):
        read_examples("cmrc2018", write(tmp_path, "d.json", doubled))
    with pytest.raises(DataError, match=r"e\.json: Q1: is_impossible should be"):
        read_examples("cjrc", write(tmp_path, "e.json", squad(dict(qa, is_impossible="maybe"))))
    with pytest.raises(DataError, match=r"f\.json: Q1: missing key 'is_impossible'"):
        read_examples("cjrc", write(tmp_path, "f.json", squad(qa)))


def test_answer_outside_the_context_is_kept_with_a_warning(tmp_path):
    qa = {"id": "Q1", "question": "哪里？", "answers": [{"text": "城市", "answer_start": 0},
                                                      {"text": "北京", "answer_start": 3}]}
    result = read_examples("cmrc2018", write(tmp_path, "g.json", squad(qa)))
    assert result.examples[0].answers == (Answer("城市", 6), Answer("北京", -1))
    assert result.warnings == {"answer_start corrected": 1, "answer not in context (kept, start -1)": 1}
    assert result.warnings_where[1].endswith("g.json: Q1: answers[1]: answer not in context (kept, start -1)")
    twice = {"id": "Q2", "question": "哪个？", "answers": [{"text": "城市", "answer_start": 2}]}
    moved = read_examples("drcd", write(tmp_path, "h.json", squad(twice, context="城市和城市"))).examples[0]
    assert moved.answers == (Answer("城市", 3),)  # the occurrence nearest the given start


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# -- paddle-wwm check-data ---------------------------------------------------------------------

def test_check_data_prints_the_counts(capsys):
    path = FIXTURES / "cjrc" / "dev_ground_truth.json"
    assert main(["check-data", "--task", "cjrc", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path} (cjrc): 6 questions, 1 distinct contexts" in out
    assert "answer types: span 3, yes 1, no 1, unanswerable 1" in out
    assert "answers per question: 3 (6 questions)" in out
    assert "skipped: none" in out


def test_check_data_json_for_several_files(capsys):
    files = [FIXTURES / "xnli" / "dev.tsv", FIXTURES / "xnli" / "test.tsv"]
    assert main(["check-data", "--task", "xnli", "--json", *map(str, files)]) == 0
    summaries = json.loads(capsys.readouterr().out)
    assert [s["examples"] for s in summaries] == [5, 5]
    assert summaries[0]["labels"] == {"contradiction": 2, "entailment": 1, "neutral": 2}
    assert summaries[1]["labels"] == {"contradiction": 1, "entailment": 2, "neutral": 2}
    assert summaries[0]["skipped"] == {}


def test_check_data_span_summary_counts_skips_and_warnings():
    summary = data_summary("cmrc2018", FIXTURES / "cmrc2018" / "cmrc2018_trial.json")
    assert (summary["questions"], summary["contexts"]) == (8, 2)
    assert summary["answer_types"] == {"span": 8} and summary["answers_per_question"] == {"1": 8}
    assert summary["skipped"] == {"empty question": 1} and summary["warnings"] == {"answer_start corrected": 5}


def test_check_data_bad_file_exits_2(tmp_path, capsys):
    path = write(tmp_path, "bad.tsv", "label\ttext_a\n2\t很好\n")
    assert main(["check-data", "--task", "chnsenticorp", str(path)]) == 2
    err = capsys.readouterr().err
    assert "paddle-wwm check-data: error:" in err and "bad.tsv:2: label '2' is not one of 0, 1" in err
