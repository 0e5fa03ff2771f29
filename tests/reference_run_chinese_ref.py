"""run_chinese_ref.py's algorithm (transformers' examples/research_projects/mlm_wwm), reimplemented
step by step in its own structure: the independent reference our chinese_ref export is tested and
benchmarked against. Segmentation is passed in (the original calls LTP inside)."""


def is_chinese_char(cp):
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


def is_chinese(word):
    return all(is_chinese_char(ord(ch)) for ch in word)


def get_chinese_word(tokens):
    return list({t for t in tokens if len(t) > 1 and is_chinese(t)})


def add_sub_symbol(bert_tokens, chinese_word_set):
    if not chinese_word_set:
        return bert_tokens
    max_word_len = max(len(w) for w in chinese_word_set)
    bert_word = bert_tokens
    start, end = 0, len(bert_word)
    while start < end:
        single_word = True
        if is_chinese(bert_word[start]):
            length = min(end - start, max_word_len)
            for i in range(length, 1, -1):
                whole_word = "".join(bert_word[start:start + i])
                if whole_word in chinese_word_set:
                    for j in range(start + 1, start + i):
                        bert_word[j] = "##" + bert_word[j]
                    start = start + i
                    single_word = False
                    break
        if single_word:
            start += 1
    return bert_word


def prepare_ref(lines, segmentations, hf_tokenizer):
    ltp_res = [get_chinese_word(r) for r in segmentations]
    bert_res = hf_tokenizer(lines, add_special_tokens=True, truncation=True, max_length=512)["input_ids"]
    ref_ids = []
    for input_ids, chinese_word in zip(bert_res, ltp_res):
        input_tokens = [hf_tokenizer._convert_id_to_token(i) for i in input_ids]
        input_tokens = add_sub_symbol(input_tokens, chinese_word)
        ref_id = []
        for i, token in enumerate(input_tokens):
            if token[:2] == "##":
                clean_token = token[2:]
                if len(clean_token) == 1 and is_chinese_char(ord(clean_token)):
                    ref_id.append(i)
        ref_ids.append(ref_id)
    return ref_ids
