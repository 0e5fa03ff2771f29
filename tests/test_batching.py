"""Request batching (paddle_wwm/integrations/batching.py): concurrent calls merged into one run,
each caller answered with its own results in order, a failing request alone in its error, the
window closing on size and on time, requests from another process, no thread left after close;
and the hub module serving through it with predict's labels."""
import multiprocessing
import threading
import time

import pytest

from paddle_wwm.integrations.batching import Batcher, BatchServer


def our_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("paddle-wwm-batch")]


def shout(items, key):
    """The reference run: one result per item; an item "bad" fails the whole call."""
    if "bad" in items:
        raise ValueError("bad item")
    return [f"{key}:{item.upper()}" for item in items]


def submit_together(batcher, requests, key="k", submit=None):
    """Every request from its own thread, released at once; (results or exception) per request.
    submit(request): how to send one (default: batcher.submit(request, key))."""
    barrier, answers = threading.Barrier(len(requests)), [None] * len(requests)
    submit = submit or (lambda request: batcher.submit(request, key))

    def call(index):
        barrier.wait()
        try:
            answers[index] = submit(requests[index])
        except Exception as error:
            answers[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_callers_are_merged_and_each_gets_its_own_results_in_order():
    calls = []
    batcher = Batcher(lambda items, key: calls.append(list(items)) or shout(items, key), window_ms=300,
                      max_texts=100)
    requests = [[f"r{i}t{j}" for j in range(i % 3 + 1)] for i in range(6)]
    answers = submit_together(batcher, requests)
    batcher.close()
    assert answers == [[f"k:{t.upper()}" for t in request] for request in requests]
    assert len(calls) < len(requests)  # merged: fewer runs than requests
    assert sum(len(c) for c in calls) == sum(len(r) for r in requests)
    assert batcher.flushes[0][0] > 1


def test_a_failing_request_gets_its_error_and_the_others_their_results():
    batcher = Batcher(shout, window_ms=300, max_texts=100)
    requests = [["a", "b"], ["c", "bad"], ["d"], ["e", "f", "g"]]
    answers = submit_together(batcher, requests)
    batcher.close()
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "bad item"
    assert answers[0] == ["k:A", "k:B"] and answers[2] == ["k:D"] and answers[3] == ["k:E", "k:F", "k:G"]


def test_requests_with_different_settings_are_not_merged():
    calls = []
    batcher = Batcher(lambda items, key: calls.append((key, list(items))) or shout(items, key), window_ms=300)
    barrier, answers = threading.Barrier(2), {}

    def call(key):
        barrier.wait()
        answers[key] = batcher.submit(["x"], key)

    threads = [threading.Thread(target=call, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert answers == {"a": ["a:X"], "b": ["b:X"]}
    assert sorted(calls) == [("a", ["x"]), ("b", ["x"])]


def test_the_window_closes_when_full_without_waiting_out_the_time():
    batcher = Batcher(shout, window_ms=20_000, max_texts=4)
    started = time.monotonic()
    answers = submit_together(batcher, [["a", "b"], ["c", "d"]])
    assert time.monotonic() - started < 10
    assert answers == [["k:A", "k:B"], ["k:C", "k:D"]]
    assert list(batcher.flushes) == [(2, 4)]
    # a request larger than max_texts runs alone, at once
    started = time.monotonic()
    assert batcher.submit(list("abcdef"), "k") == [f"k:{c}" for c in "ABCDEF"]
    assert time.monotonic() - started < 10 and batcher.flushes[-1] == (1, 6)
    batcher.close()


def test_the_window_closes_on_time():
    batcher = Batcher(shout, window_ms=150, max_texts=64)
    started = time.monotonic()
    assert batcher.submit(["a"], "k") == ["k:A"]
    elapsed = time.monotonic() - started
    batcher.close()
    assert 0.15 <= elapsed < 5
    assert list(batcher.flushes) == [(1, 1)]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_texts >= 1"):
        Batcher(shout, window_ms=3, max_texts=0)
    with pytest.raises(ValueError, match="window_ms >= 0"):
        Batcher(shout, window_ms=-1)


def test_close_leaves_no_thread_and_refuses_new_requests():
    batcher = Batcher(shout, window_ms=1)
    server = BatchServer(batcher)
    client = server.client()
    assert client.submit(["a"], "k") == ["k:A"] and batcher.submit(["b"], "k") == ["k:B"]
    assert our_threads()
    server.close()
    batcher.close()
    client.close()
    assert our_threads() == []
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["c"], "k")


def _submit_from_child(client, items, answers):
    try:
        answers.put(client.submit(items, "k"))
    except Exception as error:
        answers.put(f"{type(error).__name__}: {error}")


def test_requests_from_forked_processes_are_merged_and_answered():
    """What a gunicorn worker does: its own connection to the process that built the module."""
    batcher = Batcher(shout, window_ms=500, max_texts=100)
    server = BatchServer(batcher)
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    requests = [["a", "b"], ["bad"], ["c"]]
    children = [fork.Process(target=_submit_from_child, args=(server.client(), items, answers))
                for items in requests]
    for child in children:
        child.start()
    got = sorted(str(answers.get(timeout=60)) for _ in children)
    for child in children:
        child.join(timeout=60)
    server.close()
    batcher.close()
    assert got == sorted([str(["k:A", "k:B"]), "ValueError: bad item", str(["k:C"])])
    assert our_threads() == []


def test_hub_module_serves_concurrent_requests_batched_with_predicts_labels(request, tmp_path, monkeypatch):
    """The module's serving method with batch_window_ms: concurrent requests (good ones, a
    malformed one, one with a bad max_seq_len) each get what the unbatched module gives them."""
    from conftest import ran_in_fresh_process

    if ran_in_fresh_process(request):
        return
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    import paddlehub as hub

    from paddle_wwm.integrations.hub_module import HubModuleError
    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForSequenceClassification
    from test_hub_modules import REVIEWS, store_random_model

    store_random_model("rbt3", seed=4, make=lambda c: BertForSequenceClassification(c, num_classes=2))
    install("rbt3")
    args = dict(name="rbt3", task="seq-cls", num_classes=2, label_map={0: "neg", 1: "pos"})
    plain = hub.Module(**args)
    batched = hub.Module(**args, batch_window_ms=200, batch_max_texts=64)
    requests = [[[t] for t in REVIEWS[i:i + 1 + i % 4]] for i in range(len(REVIEWS))]
    requests.insert(2, [[REVIEWS[0], REVIEWS[1]], [REVIEWS[2]]])  # mixes a pair and a single text
    answers = submit_together(None, requests, submit=lambda data: batched.predict_method(data, max_seq_len=32,
                                                                                           batch_size=2))
    for data, answer in zip(requests, answers):
        if data is requests[2]:
            assert isinstance(answer, HubModuleError) and "do not mix single texts and pairs" in str(answer)
        else:
            assert answer == plain.predict(data, max_seq_len=32, batch_size=2)
    assert max(n for n, _ in batched._batching[1].flushes) > 1  # requests were merged
    with pytest.raises(HubModuleError, match="max_seq_len"):
        batched.predict_method([[REVIEWS[0]]], max_seq_len=10_000)
    assert our_threads()
    batched.close_batching()
    assert our_threads() == []
    assert batched.predict_method([[REVIEWS[0]]], max_seq_len=32) == plain.predict([[REVIEWS[0]]], max_seq_len=32)
    with pytest.raises(HubModuleError, match="batch_window_ms"):
        hub.Module(**args, batch_window_ms="soon")
