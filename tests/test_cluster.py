"""Pre-training on a cluster: the job coordinator's decisions, node settings and the run lock
checked directly; then two hosts on this machine (network namespaces, see two_hosts.py), each
running its own `paddle-wwm pretrain --nnodes 2`: the same numbers as one process, only rank 0
writing, and every fault (a host killed, a rank killed with a restart left, SIGTERM and SIGKILL of
the command, a stopped rank) ending with no process left and the message or checkpoint promised.

Run with -s to see the measured figures ("cluster figure: ..."); benchmarks/cluster_faults.py
collects them."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from paddle_wwm.cli import main
from paddle_wwm.pretraining import load_config, pretrain
from paddle_wwm.pretraining.checkpoint import finished_checkpoints
from paddle_wwm.pretraining.coordinator import Coordinator
from paddle_wwm.pretraining.job_channel import Channel, JobError
from paddle_wwm.pretraining.metrics import read_log
from paddle_wwm.pretraining.node_address import node_host, parse_master, socket_environment
from paddle_wwm.pretraining.run_lock import RunLock
from test_pretraining import TINY_OVERRIDES, data_dir, final_weights, write_recipe  # noqa: F401 (data_dir: a fixture)
from two_hosts import ADDRESSES, REPO, TwoHosts

STEPS = 40
TRAIN = {"max_steps": STEPS, "save_steps": 4, "keep_checkpoints": 2, "log_steps": 1}
NO_DROPOUT = {"name": "rbt3", "overrides": dict(TINY_OVERRIDES), "dropout": 0.0}  # ranks draw their own masks
ENDED = 60.0  # every fault must end the job, on every host, within this many seconds


def figure(name: str, seconds: float, output: str = "") -> None:
    print(f"\ncluster figure: {name} {seconds:.1f} s", flush=True)
    for line in output.splitlines():
        if line.startswith("paddle-wwm pretrain:"):
            print(f"cluster message: {line}", flush=True)


# -- the coordinator, directly ---------------------------------------------------------------------
def _coordinator(nnodes=2, **kwargs) -> tuple[Coordinator, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dict(stall_timeout=30.0, rendezvous_timeout=30.0)
    settings.update(kwargs)
    coordinator = Coordinator("127.0.0.1", port, nnodes, "abc", **settings)
    coordinator.start()
    return coordinator, port


def _node(port, host, fingerprint="abc") -> Channel:
    channel = Channel.connect("127.0.0.1", port, 5, "coordinator")
    channel.send({"type": "hello", "role": "node", "host": host, "nproc": 1, "fingerprint": fingerprint})
    return channel


def _until(channel: Channel, kind: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in channel.receive(timeout=0.2):
            if message["type"] == kind:
                return message
    raise AssertionError(f"no {kind!r} message within {timeout} s")


def _running_job(port, **beats) -> tuple[list[Channel], list[Channel]]:
    nodes = [_node(port, "h0"), _node(port, "h1")]
    for node in nodes:
        assert _until(node, "start") == {"type": "start", "attempt": 0, "resume": False}
    workers = []
    for rank in range(2):
        worker = Channel.connect("127.0.0.1", port, 5, "coordinator")
        worker.send({"type": "hello", "role": "worker", "rank": rank, "attempt": 0, "host": f"h{rank}", "pid": 1})
        worker.send({"type": "beat", "step": beats.get(f"rank{rank}", 3), "phase": "step"})
        workers.append(worker)
    return nodes, workers


def test_a_node_count_that_never_fills_fails_naming_who_joined():
    coordinator, port = _coordinator(rendezvous_timeout=1.0)
    node = _node(port, "10.0.0.1")
    message = _until(node, "abort")["message"]
    assert message.startswith("only 1 of 2 nodes joined within 1 s (joined: 10.0.0.1)")


def test_another_recipe_on_a_node_fails_the_job():
    coordinator, port = _coordinator()
    first = _node(port, "10.0.0.1")
    _node(port, "10.0.0.2", fingerprint="xyz")
    message = _until(first, "abort")["message"]
    assert "node 10.0.0.2 has another recipe or data than the master node" in message


def test_a_rank_that_dies_aborts_every_node_naming_it_and_the_step():
    coordinator, port = _coordinator()
    nodes, workers = _running_job(port, rank0=7, rank1=7)
    time.sleep(0.5)
    workers[1].close()  # what a SIGKILL looks like from here
    for node in nodes:
        assert _until(node, "abort")["message"].startswith("rank 1 on h1 died at step 7")


def test_an_error_that_echoes_a_death_is_not_taken_for_its_cause():
    coordinator, port = _coordinator()
    nodes, workers = _running_job(port, rank0=5, rank1=5)
    time.sleep(0.5)
    workers[0].send({"type": "bye", "code": 1, "error": "RuntimeError: Read error: Connection reset by peer"})
    time.sleep(0.5)
    workers[1].close()  # the death that rank 0's gloo error was about arrives second
    assert _until(nodes[0], "abort")["message"].startswith("rank 1 on h1 died at step 5")


def test_the_stall_watchdog_names_the_ranks_that_did_not_arrive():
    coordinator, port = _coordinator(stall_timeout=2.0)
    nodes, workers = _running_job(port, rank0=6, rank1=5)
    start = time.monotonic()
    deadline = start + 10
    message = None
    while message is None and time.monotonic() < deadline:
        for worker, step in zip(workers, (6, 5)):  # all alive (heartbeats), neither rank advances
            worker.send({"type": "beat", "step": step, "phase": "step"})
        for node in nodes:
            node.send({"type": "beat"})
        message = next((m["message"] for m in nodes[0].receive(timeout=0.5) if m["type"] == "abort"), None)
    assert message == ("stalled at step 5: no step progress for 2 s (train.stall_timeout); ranks that did not "
                       "arrive: 1 on h1 (step); ranks [0] wait for them")
    assert 2.0 <= time.monotonic() - start < 4.0


def test_a_failure_with_a_restart_left_halts_and_starts_again_with_resume():
    coordinator, port = _coordinator(max_restarts=1)
    nodes, workers = _running_job(port)
    workers[0].send({"type": "bye", "code": 1, "error": "RuntimeError: boom"})
    for node in nodes:
        assert _until(node, "halt")["message"] == ("rank 0 on h0 failed at step 3: RuntimeError: boom; restarting "
                                                   "from the last checkpoint (0 restarts left)")
        node.send({"type": "halted"})
    for node in nodes:
        assert _until(node, "start") == {"type": "start", "attempt": 1, "resume": True}


def test_a_stop_request_reaches_every_rank():
    coordinator, port = _coordinator()
    nodes, workers = _running_job(port)
    nodes[1].send({"type": "stop", "signal": int(signal.SIGTERM)})
    for worker in workers:
        assert _until(worker, "stop") == {"type": "stop"}


# -- node settings and the lock -------------------------------------------------------------------
def test_node_settings_are_checked_with_clear_errors(monkeypatch):
    not_ours = r"--host 10\.231\.99\.9 is not an address of this node \(it has .*127\.0\.0\.1 on lo"
    with pytest.raises(JobError, match=not_ours):
        node_host("10.231.99.9", "127.0.0.1")
    assert node_host(None, "127.0.0.1") == "127.0.0.1"
    with pytest.raises(JobError, match="expected HOST:PORT"):
        parse_master("10.0.0.1")
    assert parse_master("localhost:6170") == ("127.0.0.1", 6170)
    assert socket_environment("127.0.0.1") == {"GLOO_SOCKET_IFNAME": "lo", "NCCL_SOCKET_IFNAME": "lo"}
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "l")  # NCCL: a prefix of an interface name
    assert socket_environment("127.0.0.1")["NCCL_SOCKET_IFNAME"] == "l"
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "=l")
    with pytest.raises(JobError, match=r"NCCL_SOCKET_IFNAME==l: no interface l on this node \(it has .*lo"):
        socket_environment("127.0.0.1")
    start = time.monotonic()
    with pytest.raises(JobError, match=r"the job coordinator at 127\.0\.0\.1:\d+ not reachable within 1 s"):
        Channel.connect("127.0.0.1", _coordinator_free_port(), 1, "the job coordinator")
    assert time.monotonic() - start < 3


def _coordinator_free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_live_lock_refuses_naming_its_holder_and_a_dead_one_is_stale(tmp_path, caplog):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from paddle_wwm.pretraining.run_lock import "
                               "RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        holder_named = rf"is in use by a live job \(host {socket.gethostname()}, pid {holder.pid}, "
        with pytest.raises(JobError, match=holder_named):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path):
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert f"pid {holder.pid}" in caplog.text and "is gone; taking it over" in caplog.text


# -- two hosts ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hosts():
    two = TwoHosts(str(os.getpid() % 100000))
    reason = two.create()
    if reason is not None:
        print(f"\nskipping the two-host tests: {reason}")
        pytest.skip(reason)
    try:
        yield two
    finally:
        two.destroy()


@pytest.fixture(scope="module")
def shards(data_dir):  # noqa: F811 (the prepared data of test_pretraining, prepared once for this module)
    return data_dir


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory):
    """One process, 2 micro-batches accumulated: what every layout of 2 ranks must compute."""
    out = tmp_path_factory.mktemp("reference") / "out"
    recipe = write_recipe(out.parent / "r.yaml", shards, out, model=NO_DROPOUT, train=TRAIN)
    pretrain(load_config(recipe), progress=False)
    return [r["loss"] for r in read_log(out)], final_weights(out)


class Job:
    """`paddle-wwm pretrain --nnodes 2` on host A (the master, --host given) and host B (its address
    derived from the route to the master; the run directory read-only for it)."""

    def __init__(self, hosts: TwoHosts, tmp_path: Path, shards: Path, port: int, **train):
        self.hosts, self.root, self.out = hosts, tmp_path, tmp_path / "out"
        self.recipe = write_recipe(tmp_path / "recipe.yaml", shards, self.out, model=NO_DROPOUT,
                                   train=dict(TRAIN, **train))
        self.b_logs = tmp_path / "b-launch-logs"
        self.b_logs.mkdir()
        (self.out / "launch_logs" / ADDRESSES[1]).mkdir(parents=True)
        self.port, self.runs = port, 0

    def start(self, *extra: str) -> "Job":
        self.runs += 1
        self.a = self.hosts.run(0, [*self._args(extra), "--host", ADDRESSES[0]], self.log(0))
        return self.start_b(*extra)

    def start_b(self, *extra: str) -> "Job":
        self.b = self.hosts.run(1, self._args(extra), self.log(1), read_only=self.out,
                                writable=(self.b_logs, self.out / "launch_logs" / ADDRESSES[1]))
        return self

    def _args(self, extra) -> list[str]:
        return ["pretrain", "--config", str(self.recipe), "--nnodes", "2", "--master", f"{ADDRESSES[0]}:{self.port}",
                "--quiet", *extra]

    def log(self, host: int) -> Path:
        return self.root / f"host{'ab'[host]}-{self.runs}.log"

    def output(self, host: int) -> str:
        return self.log(host).read_text(errors="replace")

    def wait(self, timeout: float = 300) -> tuple[int, int]:
        return self.a.wait(timeout=timeout), self.b.wait(timeout=timeout)

    def wait_for_step(self, step: int, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not (self.out / "log.jsonl").is_file() or len(read_log(self.out)) < step:
            assert self.a.poll() is None and self.b.poll() is None, self.output(0)[-3000:] + self.output(1)[-3000:]
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        assert len(read_log(self.out)) < STEPS, "the run ended before the fault could be injected"

    def seconds_until_all_gone(self, timeout: float = ENDED) -> float:
        start = time.monotonic()
        for host in (0, 1):
            assert self.hosts.wait_empty(host, timeout - (time.monotonic() - start)), \
                f"processes left on host {'ab'[host]}: {self.hosts.pids(host)}"
        return time.monotonic() - start

    def rank_pids(self, host: int) -> list[int]:
        launchers = set(self.hosts.find(host, "paddle.distributed.launch"))
        return [pid for pid in self.hosts.find(host, "pretrain_main.py") if pid not in launchers]

    def losses(self) -> list[float]:
        return [r["loss"] for r in read_log(self.out)]


@pytest.mark.slow  # over 30 s on 2 cores
def test_two_nodes_compute_what_one_process_does_and_only_rank0_writes(hosts, tmp_path, shards, reference):
    """Host B cannot write into the run directory, so the run finishing is the proof that its rank
    wrote nothing there; a second job on the same directory, meanwhile, is refused naming host A."""
    job = Job(hosts, tmp_path, shards, 6170).start()
    job.wait_for_step(1)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PADDLE_TRAINERS_NUM", None)
    second = subprocess.run([sys.executable, "-m", "paddle_wwm.cli", "pretrain", "--config", str(job.recipe),
                             "--resume", "--quiet"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert job.wait() == (0, 0), job.output(0)[-3000:] + job.output(1)[-3000:]
    assert second.returncode == 2
    assert f"is in use by a live job (host {socket.gethostname()} ({ADDRESSES[0]}), pid {job.a.pid}," in second.stderr

    losses, weights = reference
    assert [r["step"] for r in read_log(job.out)] == list(range(1, STEPS + 1))
    np.testing.assert_allclose(job.losses(), losses, rtol=1e-5)
    for name, value in weights.items():
        np.testing.assert_allclose(final_weights(job.out)[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    summary = json.loads((job.out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"]
    assert sorted(p.name for p in finished_checkpoints(job.out)[-1][1].glob("rng-rank*")) == ["rng-rank0.pkl",
                                                                                               "rng-rank1.pkl"]
    assert list(job.b_logs.glob("workerlog.*")) and not list((job.out / "launch_logs" / ADDRESSES[1]).iterdir())


def test_a_killed_host_ends_the_job_on_every_host(hosts, tmp_path, shards):
    job = Job(hosts, tmp_path, shards, 6180).start()
    job.wait_for_step(3)
    hosts.kill_all(1)  # host B gone: its command, paddle's launcher and its rank, all at once
    figure("host killed -> every process gone", job.seconds_until_all_gone(), job.output(0))
    assert job.a.wait(5) == 1
    assert f"paddle-wwm pretrain: error: rank 1 on {ADDRESSES[1]} died at step" in job.output(0) or \
        f"paddle-wwm pretrain: error: node {ADDRESSES[1]} lost at step" in job.output(0), job.output(0)[-3000:]


@pytest.mark.slow  # over 30 s on 2 cores
def test_a_killed_host_restarted_rejoins_and_the_job_resumes(hosts, tmp_path, shards, reference):
    """--max-restarts 1: host B dies whole; its command started again (as Kubernetes or Slurm would)
    takes its place, and the job resumes from its last checkpoint with the uninterrupted losses."""
    job = Job(hosts, tmp_path, shards, 6190).start("--max-restarts", "1")
    job.wait_for_step(10)
    hosts.kill_all(1)
    assert hosts.wait_empty(1, 10)
    assert job.start_b("--max-restarts", "1").wait() == (0, 0), job.output(0)[-3000:] + job.output(1)[-3000:]
    messages = [line for line in job.output(0).splitlines() if line.startswith("paddle-wwm pretrain:")]
    assert len(messages) == 1 and messages[0].endswith("; restarting from the last checkpoint (0 restarts left)")
    assert f"rank 1 on {ADDRESSES[1]} died at step" in messages[0] or f"node {ADDRESSES[1]} lost at step" in messages[0]
    assert [r["step"] for r in read_log(job.out)] == list(range(1, STEPS + 1))  # one run's log
    np.testing.assert_allclose(job.losses(), reference[0], rtol=1e-5)
    for name, value in reference[1].items():
        np.testing.assert_allclose(final_weights(job.out)[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_sigterm_to_a_command_checkpoints_and_resumes_exactly(hosts, tmp_path, shards, reference):
    job = Job(hosts, tmp_path, shards, 6200).start()
    job.wait_for_step(3)
    job.b.send_signal(signal.SIGTERM)  # a preempted node: the whole job stops at one step boundary
    figure("SIGTERM -> checkpoint written, every process gone", job.seconds_until_all_gone(), job.output(0))
    assert job.wait(5) == (143, 143)
    stopped_at = int(job.output(0).split("stopped by SIGTERM after step ")[1].split(";")[0])
    assert finished_checkpoints(job.out)[-1][0] == stopped_at < STEPS
    assert len(read_log(job.out)) == stopped_at

    assert job.start("--resume").wait() == (0, 0), job.output(0)[-3000:] + job.output(1)[-3000:]
    np.testing.assert_allclose(job.losses(), reference[0], rtol=1e-5)


@pytest.mark.parametrize("victim", ["the master's command", "paddle's launcher on host B"])
def test_sigkill_of_a_launcher_leaves_no_process_and_a_checkpoint(hosts, tmp_path, shards, victim):
    job = Job(hosts, tmp_path, shards, 6210).start()
    job.wait_for_step(6)
    if victim == "the master's command":
        job.a.kill()  # the command the user started (and with it the job coordinator)
    else:
        (launcher,) = hosts.find(1, "paddle.distributed.launch")
        os.kill(launcher, signal.SIGKILL)
    figure(f"SIGKILL of {victim} -> every process gone", job.seconds_until_all_gone(), job.output(1))
    if victim == "the master's command":
        assert job.b.wait(5) == 1 and "lost the job coordinator" in job.output(1)
    else:
        assert job.wait(5) == (1, 1)
        assert f"error: rank 1 on {ADDRESSES[1]} died at step" in job.output(0) or \
            f"error: node {ADDRESSES[1]}: its ranks exited with code" in job.output(0), job.output(0)[-3000:]
    step, path = finished_checkpoints(job.out)[-1]
    assert step >= 4 and (path / "rng-rank1.pkl").is_file()  # complete, for a --resume with 2 ranks


def test_a_stopped_rank_ends_the_job_within_the_stall_timeout(hosts, tmp_path, shards):
    job = Job(hosts, tmp_path, shards, 6220, stall_timeout=10).start()
    job.wait_for_step(3)
    (rank1,) = job.rank_pids(1)
    os.kill(rank1, signal.SIGSTOP)
    start = time.monotonic()
    job.seconds_until_all_gone(timeout=10 + 30)
    figure("SIGSTOP of a rank (train.stall_timeout=10) -> every process gone", time.monotonic() - start,
           job.output(0))
    assert job.wait(5) == (1, 1)
    assert f"error: rank 1 on {ADDRESSES[1]} silent for" in job.output(0) or \
        "ranks that did not arrive: 1 on" in job.output(0), job.output(0)[-3000:]


# -- one machine ----------------------------------------------------------------------------------
def _processes_of(recipe: Path) -> list[int]:
    """Pids whose command line names the recipe: the command, paddle's launcher and the ranks."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(recipe).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _run_until_step(args: list[str], out: Path, step: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PADDLE_TRAINERS_NUM", None)
    process = subprocess.Popen([sys.executable, "-m", "paddle_wwm.cli", *args], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "log.jsonl").is_file() or len(read_log(out)) < step:
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(read_log(out)) < STEPS, "the run ended before the signal could be sent"
    return process


def test_sigterm_to_nproc_2_on_one_machine_stops_every_process_with_a_checkpoint(tmp_path, shards):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", shards, out, model=NO_DROPOUT, train=TRAIN)
    process = _run_until_step(["pretrain", "--config", str(recipe), "--nproc", "2", "--quiet"], out, 3)
    assert len(_processes_of(recipe)) == 4  # the command, paddle's launcher, 2 ranks
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(ENDED) == 143
    while _processes_of(recipe):
        assert time.monotonic() - start < ENDED, _processes_of(recipe)
        time.sleep(0.1)
    figure("SIGTERM to `pretrain --nproc 2` on one machine -> every process gone", time.monotonic() - start)
    stopped_at = int(process.stderr.read().split("stopped by SIGTERM after step ")[1].split(";")[0])
    assert finished_checkpoints(out)[-1][0] == stopped_at == len(read_log(out))


def test_sigint_to_one_process_stops_with_a_checkpoint_and_resumes_exactly(tmp_path, shards, reference):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", shards, out, model=NO_DROPOUT, train=TRAIN)
    process = _run_until_step(["pretrain", "--config", str(recipe), "--quiet"], out, 3)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(ENDED) == 130
    assert "stopped by SIGINT after step" in process.stderr.read()
    assert main(["pretrain", "--config", str(recipe), "--resume", "--quiet"]) == 0
    np.testing.assert_allclose([r["loss"] for r in read_log(out)], reference[0], rtol=1e-6)
