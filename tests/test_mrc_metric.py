"""The official reading-comprehension metrics (paddle_wwm/finetuning/mrc_metric.py), on cases whose
expected numbers are worked out by hand in the comments.

CMRC 2018 rule (also DRCD): F1 = 2PR/(P+R) with P = L/len(prediction tokens), R = L/len(reference
tokens), L the longest common CONTIGUOUS run of tokens; EM after lower-casing, stripping and
deleting the listed punctuation; max over references; averaged over all questions.
CJRC rule (CAIL2019): characters that are letters or digits only, F1 over the bag of characters,
mean over leave-one-reference-out maxima.
"""
import json

import pytest

from paddle_wwm.finetuning import mrc_metric as M


# ------------------------------------------------------------------ CMRC 2018: segmentation


def test_pure_chinese_is_one_token_per_character():
    assert M.mixed_segmentation("北京大学") == ["北", "京", "大", "学"]
    # reference 北京大学 (4 tokens), prediction 北京 (2): L = 2, P = 2/2 = 1, R = 2/4 = 1/2,
    # F1 = 2 * 1 * 1/2 / (1 + 1/2) = 2/3; not equal, EM 0.
    assert M.f1_score(["北京大学"], "北京") == pytest.approx(2 / 3)
    assert M.exact_match(["北京大学"], "北京") == 0.0


def test_english_words_and_digit_runs_inside_chinese():
    # Lower-cased first; "2019" and "iphone" are runs between CJK characters, one word each.
    assert M.mixed_segmentation("2019年iPhone发布") == ["2019", "年", "iphone", "发", "布"]
    # reference "iPhone" = [iphone] (1 token), prediction 5 tokens: L = 1, P = 1/5, R = 1,
    # F1 = 2 * 1/5 * 1 / (6/5) = 1/3.
    assert M.f1_score(["iPhone"], "2019年iPhone发布") == pytest.approx(1 / 3)
    # reference 2019年 = [2019, 年], prediction 2019年5月 = [2019, 年, 5, 月]: L = 2, P = 1/2, R = 1,
    # F1 = 2 * 1/2 / (3/2) = 2/3. (A character-level F1 would count 2,0,1,9 separately.)
    assert M.f1_score(["2019年"], "2019年5月") == pytest.approx(2 / 3)
    # whitespace separates words inside a run only; for EM inner spaces count.
    assert M.mixed_segmentation("iPhone 11") == ["iphone", "11"]
    assert M.exact_match(["iPhone 11"], "iphone11") == 0.0


def test_case_is_ignored():
    assert M.exact_match(["NBA总决赛"], "nba总决赛") == 1.0
    assert M.f1_score(["NBA总决赛"], "nba总决赛") == 1.0


def test_punctuation_around_and_inside_answers():
    # 《》 and 、 are in the list: removed for EM, dropped as tokens for F1.
    assert M.exact_match(["《红楼梦》"], "红楼梦") == 1.0
    assert M.f1_score(["《红楼梦》"], "红楼梦") == 1.0
    assert M.exact_match(["张三、李四"], "张三李四") == 1.0
    assert M.f1_score(["张三、李四"], "张三李四") == 1.0
    # The ASCII comma is NOT in the list: it stays a character for EM and a token for F1.
    # reference [张, 三, ",", 李, 四] (5), prediction [张, 三, 李, 四] (4): L = 2 (张三 or 李四),
    # P = 2/4, R = 2/5, F1 = 2 * 1/2 * 2/5 / (9/10) = (2/5) / (9/10) = 4/9.
    assert M.exact_match(["张三,李四"], "张三李四") == 0.0
    assert M.f1_score(["张三,李四"], "张三李四") == pytest.approx(4 / 9)


def test_punctuation_list_quirks():
    # '……' is listed as ONE two-character string, and the script tests single characters,
    # so '…' is never removed.
    assert M.remove_punctuation("等等……") == "等等……"
    assert M.mixed_segmentation("等等……", remove_punctuation=True) == ["等", "等", "……"]
    assert M.exact_match(["等等……"], "等等") == 0.0
    # A removed character does not end a run: "a-b" is the one word "ab" for F1.
    assert M.mixed_segmentation("a-b") == ["a", "-", "b"]
    assert M.mixed_segmentation("a-b", remove_punctuation=True) == ["ab"]


def test_em_after_punctuation_removal_and_the_strip_order():
    assert M.remove_punctuation(" 一九四九年。 ") == "一九四九年"
    assert M.exact_match(["一九四九年"], "一九四九年。") == 1.0
    # Stripping happens BEFORE removal: "， 北京" loses the comma but keeps the space -> " 北京",
    # which is not "北京": EM 0. For F1 the space is an empty run: [北, 京] both sides, F1 1.
    assert M.remove_punctuation("， 北京") == " 北京"
    assert M.exact_match(["北京"], "， 北京") == 0.0
    assert M.f1_score(["北京"], "， 北京") == 1.0


def test_multiple_references_take_the_max():
    refs = ["北京大学", "北京"]
    assert M.exact_match(refs, "北京") == 1.0
    # prediction 北京大 (3 tokens): vs 北京大学: L = 3, P = 1, R = 3/4, F1 = (3/2) / (7/4) = 6/7;
    # vs 北京: L = 2, P = 2/3, R = 1, F1 = (4/3) / (5/3) = 4/5. Max = 6/7.
    assert M.f1_score(refs, "北京大") == pytest.approx(6 / 7)
    assert M.exact_match(refs, "北京大") == 0.0


def test_f1_uses_the_contiguous_substring_not_the_bag_or_subsequence():
    # Reversed: the bag of tokens overlaps fully (bag F1 = 1), the longest contiguous run is one
    # token: P = R = 1/4, F1 = 1/4.
    assert M.f1_score(["甲乙丙丁"], "丁丙乙甲") == pytest.approx(1 / 4)
    # One token inserted: subsequence 4 (甲乙丙丁), substring 2 (甲乙 or 丙丁):
    # P = 2/5, R = 2/4, F1 = 2 * 2/5 * 1/2 / (9/10) = (2/5) / (9/10) = 4/9.
    assert M.f1_score(["甲乙丙丁"], "甲乙戊丙丁") == pytest.approx(4 / 9)
    assert M.longest_common_substring(list("甲乙丙丁"), list("甲乙戊丙丁")) == 2
    assert M.longest_common_substring(list("abcd"), list("xbcy")) == 2
    assert M.longest_common_substring(list("aaa"), list("aa")) == 2
    assert M.longest_common_substring([], list("ab")) == 0


def test_empty_strings_score_zero_f1_but_can_match_exactly():
    # An empty token list has no common substring: F1 0 (no division by zero). EM compares
    # strings: "" equals "" (this is what the CMRC rule does to CJRC's unanswerable "").
    assert M.f1_score(["北京"], "") == 0.0
    assert M.f1_score([""], "") == 0.0
    assert M.exact_match([""], "") == 1.0
    with pytest.raises(ValueError, match="at least one reference"):
        M.f1_score([], "北京")


def test_traditional_chinese_drcd():
    # Traditional characters lie inside U+4E00..U+9FA5 too: one token each.
    assert M.mixed_segmentation("臺灣大學") == ["臺", "灣", "大", "學"]
    # reference 4 tokens, prediction 國立臺灣大學 6 tokens: L = 4, P = 4/6, R = 1,
    # F1 = 2 * 2/3 / (5/3) = 4/5.
    assert M.f1_score(["臺灣大學"], "國立臺灣大學") == pytest.approx(4 / 5)
    # 「」 are listed; '·' (U+00B7) is listed, but DRCD's '‧' (U+2027) is not, and it is not CJK:
    # it stays a token of its own. reference [威 廉 ‧ 莎 士 比 亞] (7), prediction 威廉莎士比亞 (6):
    # L = 4 (莎士比亞), P = 4/6, R = 4/7, F1 = 2 * 16/42 / (52/42) = 32/52 = 8/13.
    assert M.mixed_segmentation("「威廉‧莎士比亞」", remove_punctuation=True) == list("威廉‧莎士比亞")
    assert M.f1_score(["「威廉‧莎士比亞」"], "威廉莎士比亞") == pytest.approx(8 / 13)
    assert M.exact_match(["「威廉‧莎士比亞」"], "威廉莎士比亞") == 0.0
    assert M.exact_match(["「威廉·莎士比亞」"], "威廉莎士比亞") == 1.0
    # Outside the range: bopomofo gathers into one word-run (all-or-nothing for F1), as does an
    # extension-B ideograph such as U+21A38 (DRCD test), though alone between CJK it is one token.
    assert M.mixed_segmentation("ㄅㄆㄇ注音") == ["ㄅㄆㄇ", "注", "音"]
    assert M.f1_score(["ㄅㄆㄇ"], "ㄅㄆ") == 0.0
    assert M.mixed_segmentation("\U00021a38喃") == ["\U00021a38", "喃"]


def test_word_tokenizer_runs_without_sentence_splitting():
    # What the module claims about nltk: the word tokenizer splits a period off only at the end
    # of a run ("bye." -> bye .); inside a run "world. good" keeps "world." (the official
    # word_tokenize, sentence-splitting first, would give world . there). Decimal points stay;
    # '?' is split anywhere (so it cannot differ).
    assert M.mixed_segmentation("他说hello world. good bye.再见") == [
        "他", "说", "hello", "world.", "good", "bye", ".", "再", "见"]
    assert M.mixed_segmentation("3.5亿") == ["3.5", "亿"]
    assert M.mixed_segmentation("what? yes") == ["what", "?", "yes"]


# ------------------------------------------------------------------ CJRC (CAIL2019)


def test_cjrc_yes_no_unanswerable():
    # YES / NO are plain strings, normalised to "yes" / "no"; unanswerable is "".
    assert M.cjrc_exact_match(["YES"] * 3, "YES") == 1.0
    assert M.cjrc_exact_match(["YES"] * 3, "yes") == 1.0
    assert M.cjrc_f1_score(["YES"] * 3, "YES") == 1.0
    # "no" vs "yes": no common character -> 0.
    assert M.cjrc_f1_score(["YES"] * 3, "NO") == 0.0
    assert M.cjrc_exact_match(["YES"] * 3, "NO") == 0.0
    # An empty prediction against an answer: F1 0, EM 0.
    assert M.cjrc_f1_score(["YES"] * 3, "") == 0.0
    # Unanswerable: "" against "" is F1 1 and EM 1; so is a prediction of punctuation only,
    # which normalises to nothing.
    assert M.cjrc_f1_score([""] * 3, "") == 1.0
    assert M.cjrc_exact_match([""] * 3, "") == 1.0
    assert M.cjrc_f1_score([""] * 3, "。") == 1.0
    assert M.cjrc_f1_score([""] * 3, "NO") == 0.0
    # The CMRC rule on the same strings: "" vs "" is EM 1 but F1 0.
    assert M.exact_match([""] * 3, "") == 1.0 and M.f1_score([""] * 3, "") == 0.0


def test_cjrc_leave_one_out_over_references():
    # references [NO, NO, YES], prediction YES: leaving out ref 1 -> max over [NO, YES] = 1;
    # leaving out ref 2 -> 1; leaving out ref 3 -> max over [NO, NO] = 0. Mean = 2/3.
    assert M.cjrc_exact_match(["NO", "NO", "YES"], "YES") == pytest.approx(2 / 3)
    assert M.cjrc_f1_score(["NO", "NO", "YES"], "YES") == pytest.approx(2 / 3)
    assert M.cjrc_exact_match(["NO", "NO", "YES"], "NO") == 1.0
    # Spans: references [夫妻感情破裂, 因夫妻感情破裂, 夫妻感情破裂], prediction 因夫妻感情破裂 (7 chars):
    # out 1 -> the second reference is there: 1; out 3 -> 1; out 2 -> only 夫妻感情破裂 (6 chars):
    # EM 0, F1 with 6 common chars: P = 6/7, R = 1, F1 = (12/7) / (13/7) = 12/13.
    # EM = 2/3; F1 = (1 + 12/13 + 1) / 3 = 38/39.
    refs = ["夫妻感情破裂", "因夫妻感情破裂", "夫妻感情破裂"]
    assert M.cjrc_exact_match(refs, "因夫妻感情破裂") == pytest.approx(2 / 3)
    assert M.cjrc_f1_score(refs, "因夫妻感情破裂") == pytest.approx(38 / 39)
    # A single reference is just the pair score.
    assert M.cjrc_f1_score(["800元"], "800元。") == 1.0


def test_cjrc_is_a_bag_of_characters_and_drops_all_punctuation():
    # Unlike the CMRC rule (contiguous run: 1/4), the characters of 丁丙乙甲 all overlap: F1 1.
    assert M.cjrc_f1_score(["甲乙丙丁"], "丁丙乙甲") == 1.0
    # Only letters and digits survive, lower-cased: the ASCII comma, spaces and '〇' go.
    assert M.cjrc_normalize("张三, 李四 A〇1") == "张三李四a1"
    assert M.cjrc_exact_match(["张三,李四"], "张三李四") == 1.0


# ------------------------------------------------------------------ corpus level


def test_missing_prediction_scores_zero_and_counts():
    refs = {"q1": ["北京"], "q2": ["上海"]}
    r = M.evaluate(refs, {"q1": "北京", "q9": "多余"})
    # q1 EM 1 / F1 1, q2 missing: 0. Averages over 2 questions x100: 50, 50; average 50.
    assert r["em"] == pytest.approx(50.0) and r["f1"] == pytest.approx(50.0)
    assert r["average"] == pytest.approx(50.0)
    assert (r["total"], r["answered"], r["missing"], r["unused"]) == (2, 1, 1, 1)
    r = M.evaluate(refs, {})
    assert (r["em"], r["f1"], r["missing"]) == (0.0, 0.0, 2)
    with pytest.raises(ValueError, match="unknown metric"):
        M.evaluate(refs, {}, metric="squad")


def _squad_file(tmp_path, questions, name="data.json"):
    path = tmp_path / name
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in answers]}
           for qid, answers in questions.items()]
    path.write_text(json.dumps({"version": "v1.0", "data": [{"id": "A1", "title": "t", "paragraphs": [
        {"id": "A1", "context": "c", "qas": qas}]}]}, ensure_ascii=False), encoding="utf-8")
    return path


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_evaluate_files_cmrc2018(tmp_path):
    data = _squad_file(tmp_path, {"q1": ["北京大学", "北京"], "q2": ["《红楼梦》"], "q3": ["iPhone"]})
    preds = _write(tmp_path, "predictions.json", {"q1": "北京大", "q2": "红楼梦", "zz": "x"})
    assert M.load_references(data, "cmrc2018") == {
        "q1": ["北京大学", "北京"], "q2": ["《红楼梦》"], "q3": ["iPhone"]}
    r = M.evaluate_files("cmrc2018", data, preds)
    # q1: EM 0, F1 6/7 (see test_multiple_references_take_the_max); q2: EM 1, F1 1; q3 missing.
    # EM = 100 * 1/3; F1 = 100 * (6/7 + 1) / 3 = 1300/21; average = (700/21 + 1300/21) / 2 = 1000/21.
    assert r["em"] == pytest.approx(100 / 3)
    assert r["f1"] == pytest.approx(1300 / 21)
    assert r["average"] == pytest.approx(1000 / 21)
    assert (r["total"], r["answered"], r["missing"], r["unused"]) == (3, 2, 1, 1)
    assert r["metric"] == "cmrc2018"
    # DRCD is scored by the same rule.
    assert M.evaluate_files("drcd", data, preds)["f1"] == pytest.approx(1300 / 21)


def test_load_references_reads_cmrc2018_original_format(tmp_path):
    # The non-SQuAD CMRC 2018 release: a list of contexts, query_id, answers as plain strings.
    path = _write(tmp_path, "orig.json", [{"context_id": "C1", "context_text": "c", "qas": [
        {"query_id": "C1_Q1", "query_text": "?", "answers": ["甲", "乙"]}]}])
    assert M.load_references(path, "cmrc2018") == {"C1_Q1": ["甲", "乙"]}


def _cjrc_file(tmp_path):
    def qa(qid, texts, impossible="false"):
        return {"id": qid, "question": "?", "is_impossible": impossible,
                "answers": [{"text": t, "answer_start": -1 if t in ("", "YES", "NO") else 0} for t in texts]}
    return _write(tmp_path, "cjrc.json", {"version": "1.0", "data": [
        {"caseid": "1", "domain": "civil", "paragraphs": [{"context": "c", "casename": "n", "qas": [
            qa("1_1", ["夫妻感情破裂", "因夫妻感情破裂", "夫妻感情破裂"]),
            qa("1_2", ["YES"] * 3),
            qa("1_3", [""] * 3, "true")]}]},
        {"caseid": "2", "domain": "criminal", "paragraphs": [{"context": "c", "casename": "n", "qas": [
            qa("2_1", [], "true"),
            qa("2_2", ["NO", "NO", "YES"]),
            qa("2_3", ["盗窃罪"])]}]}]})


def test_evaluate_files_cjrc(tmp_path):
    data = _cjrc_file(tmp_path)
    # An empty answers list is unanswerable, reference "" (the CAIL2019 script's rule).
    assert M.load_references(data, "cjrc") == {
        "1_1": ["夫妻感情破裂", "因夫妻感情破裂", "夫妻感情破裂"], "1_2": ["YES"] * 3, "1_3": [""] * 3,
        "2_1": [""], "2_2": ["NO", "NO", "YES"], "2_3": ["盗窃罪"]}
    # CAIL2019's own prediction format: a list of {"id", "answer"}.
    preds = _write(tmp_path, "result.json", [
        {"id": "1_1", "answer": "因夫妻感情破裂"}, {"id": "1_2", "answer": "YES"},
        {"id": "1_3", "answer": ""}, {"id": "2_1", "answer": "NO"}, {"id": "2_2", "answer": "YES"}])
    r = M.evaluate_files("cjrc", data, preds)
    # civil: 1_1 EM 2/3, F1 38/39; 1_2 1, 1; 1_3 1, 1.
    #   EM = (2/3 + 2) / 3 * 100 = 800/9; F1 = (38/39 + 2) / 3 * 100 = 11600/117.
    # criminal: 2_1 "NO" vs unanswerable 0, 0; 2_2 2/3, 2/3; 2_3 missing 0.
    #   EM = F1 = (2/3) / 3 * 100 = 200/9.
    # overall over 6: EM = (8/3 + 2/3) / 6 * 100 = 500/9; F1 = (116/39 + 26/39) / 6 * 100 = 7100/117.
    assert r["metric"] == "cjrc"
    assert r["by_domain"]["civil"]["em"] == pytest.approx(800 / 9)
    assert r["by_domain"]["civil"]["f1"] == pytest.approx(11600 / 117)
    assert r["by_domain"]["criminal"]["em"] == pytest.approx(200 / 9)
    assert r["by_domain"]["criminal"]["f1"] == pytest.approx(200 / 9)
    assert (r["by_domain"]["criminal"]["answered"], r["by_domain"]["criminal"]["missing"]) == (2, 1)
    assert r["em"] == pytest.approx(500 / 9)
    assert r["f1"] == pytest.approx(7100 / 117)
    assert (r["total"], r["answered"], r["missing"]) == (6, 5, 1)
    # The CMRC rule on the same files treats YES / NO / "" as plain answers: 1_3 ("" vs "") is
    # EM 1 but F1 0; 2_1 ("NO" vs "") 0, 0; 1_2 YES = [yes] 1, 1; 2_2 YES vs [NO, NO, YES] max 1, 1;
    # 1_1 exact match of the second reference 1, 1. EM = 4/6, F1 = 3/6 (x100).
    r = M.evaluate_files("cjrc", data, preds, metric="cmrc2018")
    assert r["em"] == pytest.approx(400 / 6) and r["f1"] == pytest.approx(300 / 6)


# ------------------------------------------------------------------ malformed files


@pytest.mark.parametrize("content, message", [
    ("{not json", r"bad_refs\.json:1: invalid JSON"),
    ('{"version": "1"}', "'data' list"),
    ('"text"', "JSON object with 'data'"),
    ('{"data": [{"paragraphs": [{"context": "c"}]}]}', "'qas' list"),
    ('{"data": [{"paragraphs": [{"qas": [{"question": "?", "answers": []}]}]}]}', "string 'id'"),
    ('{"data": [{"paragraphs": [{"qas": [{"id": "q1", "answers": [{"start": 0}]}]}]}]}', "string 'text'"),
    ('{"data": [{"paragraphs": [{"qas": [{"id": "q1", "answers": []}]}]}]}', "no reference answers"),
    ('{"data": [{"paragraphs": [{"qas": [{"id": "q1", "answers": ["a"]},'
     ' {"id": "q1", "answers": ["b"]}]}]}]}', "duplicate question id"),
])
def test_malformed_reference_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad_refs.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        M.load_references(path, "cmrc2018")
    assert str(path) in str(info.value)


def test_malformed_cjrc_and_unknown_task(tmp_path):
    path = _write(tmp_path, "no_domain.json", {"data": [{"paragraphs": [{"qas": []}]}]})
    with pytest.raises(ValueError, match="domain") as info:
        M.load_references(path, "cjrc")
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="unknown task"):
        M.load_references(path, "squad")


@pytest.mark.parametrize("content, message", [
    ("[1, 2", r"bad_predictions\.json:1: invalid JSON"),
    ('"北京"', "JSON object"),
    ('{"q1": null}', "not a string"),
    ('{"q1": ["北京"]}', "not a string"),
    ('{"q1": "北京", "q1": "上海"}', "duplicate key"),
    ('[{"id": "q1"}]', "'id' and 'answer'"),
    ('[{"id": "q1", "answer": "a"}, {"id": "q1", "answer": "b"}]', "duplicate question id"),
])
def test_malformed_prediction_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad_predictions.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        M.load_predictions(path)
    assert str(path) in str(info.value)


def test_load_predictions_object(tmp_path):
    path = _write(tmp_path, "p.json", {"q1": "北京", "q2": ""})
    assert M.load_predictions(path) == {"q1": "北京", "q2": ""}
