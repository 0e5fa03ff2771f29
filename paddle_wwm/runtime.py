"""CPU runtime settings for Paddle: threads, MKL's code path on AMD, malloc, oneDNN fast paths.

Paddle's CPU defaults cost 2-5x in speed: `import paddle` sets OMP_NUM_THREADS=1 (one thread);
the MKL 2019 it ships takes its generic SSE2 kernels on non-Intel CPUs unless
MKL_DEBUG_CPU_TYPE=5 is set before its first BLAS call; and glibc malloc mmaps and unmaps every
large tensor, so each activation is page-faulted in again. `configure_cpu()` fixes all three
(process-wide, idempotent, CPU-side only, so also safe on GPU machines). Importing this module
changes nothing: `BertModel` calls `maybe_configure_cpu()` when it is built, which honours the
opt-out PADDLE_WWM_CONFIGURE_CPU=0; call `configure_cpu(n)` yourself to choose the thread count.

`cpu_static` and `inference_config` are the oneDNN paths (dygraph ignores oneDNN flags).
The measurements behind each setting, and what was tried and not kept: `benchmarks/CPU_NOTES.md`.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

# OMP_NUM_THREADS as it was before `import paddle` writes "1" into an unset one. `import paddle_wwm`
# imports this module without paddle, so the capture sees the user's value unless the user imported
# paddle first (then None, as when the variable is unset).
_OMP_BEFORE_PADDLE = os.environ.get("OMP_NUM_THREADS") if "paddle" not in sys.modules else None

_state: dict = {}


def _cpu_flags() -> tuple[str, set[str]]:
    """(vendor_id, flags) of the first CPU in /proc/cpuinfo; ('', set()) where unreadable."""
    vendor, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return vendor, flags


def _usable_cpus() -> int:
    """CPUs this process may run on: affinity mask, reduced by a cgroup v2/v1 CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = None
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            quota = int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        try:
            q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if q > 0 and p > 0:
                quota = q / p
        except (OSError, ValueError):
            pass
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return max(1, count)


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _user_omp_threads() -> int | None:
    """A thread count the user asked for through OMP_NUM_THREADS, if we can tell."""
    value = _as_int(os.environ.get("OMP_NUM_THREADS"))
    # Once paddle is imported, "1" may be paddle's own default: the user's only if it was there before.
    if value == 1 and "paddle" in sys.modules and _as_int(_OMP_BEFORE_PADDLE) != 1:
        return None
    return value


def _restore_users_omp_env() -> bool:
    """Take back the OMP_NUM_THREADS=1 that `import paddle` wrote into an unset variable, so that
    processes this one starts (a `paddle-wwm` command, a test's child, a worker) choose their
    thread count as this one did instead of inheriting one thread. True if it was taken back."""
    if "paddle" in sys.modules and _OMP_BEFORE_PADDLE is None and os.environ.get("OMP_NUM_THREADS") == "1":
        del os.environ["OMP_NUM_THREADS"]
        return True
    return False


def default_num_threads() -> int:
    """PADDLE_WWM_NUM_THREADS, else the user's OMP_NUM_THREADS, else every usable CPU."""
    for value in (os.environ.get("PADDLE_WWM_NUM_THREADS"), _user_omp_threads()):
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                pass
    return _usable_cpus()


def _mkl_path() -> Path | None:
    try:
        import paddle
    except ImportError:
        return None
    path = Path(paddle.__file__).parent / "libs" / "libmklml_intel.so"
    return path if path.exists() else None


def _mkl_cpu_path() -> int | None:
    """MKL's kernel choice (0 generic SSE2, 5 AVX2, 6/7 AVX-512), dispatching MKL now if it has not
    dispatched yet (with the current environment). None where paddle's MKL cannot be queried."""
    path = _mkl_path()
    if path is None:
        return None
    try:
        return int(ctypes.CDLL(str(path)).mkl_serv_cpu_detect())  # the handle paddle dlopens too
    except (OSError, AttributeError):
        return None


def apply_mkl_amd_fix() -> bool:
    """Set MKL_DEBUG_CPU_TYPE=5 on AMD CPUs with AVX2+FMA unless the user chose a value.

    Returns True if the variable is (now) set by us. Opt out with PADDLE_WWM_MKL_AMD_FIX=0.
    Only CPUs that have AVX2 and FMA get it: on anything else forcing the AVX2 kernels would
    raise SIGILL. It only takes effect if MKL has not dispatched yet (no matmul run so far)."""
    if os.environ.get("PADDLE_WWM_MKL_AMD_FIX", "1").lower() in ("0", "false", "no", "off"):
        return False
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return False  # the user's choice wins
    vendor, flags = _cpu_flags()
    if vendor != "AuthenticAMD" or not {"avx2", "fma"} <= flags:
        return False
    os.environ["MKL_DEBUG_CPU_TYPE"] = "5"
    return True


# mallopt(3) parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def tune_glibc_malloc(keep_bytes: int = 1 << 30) -> bool:
    """Make glibc malloc reuse freed memory for large blocks instead of mmap/munmap-ing each one.

    Paddle's CPU allocator hands every tensor allocation straight to malloc. glibc serves blocks
    above M_MMAP_THRESHOLD with a fresh mmap and returns them to the kernel on free, so every
    activation tensor of a BERT forward is page-faulted in again, a page at a time. This serves
    all blocks from the heap (M_MMAP_MAX=0) and keeps up to `keep_bytes` of freed memory for reuse
    (M_TRIM_THRESHOLD) instead of trimming it. Process-wide; glibc only; the cost is that the
    process keeps its peak heap (up to keep_bytes more) after a large batch."""
    import platform
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    keep = int(min(keep_bytes, 2**31 - 1))
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, keep))


def set_num_threads(num_threads: int) -> None:
    """Threads for Paddle's CPU kernels (MKL GEMMs and OpenMP loops) in dygraph and static mode.

    omp_set_num_threads is per calling thread: call it from the thread that runs the model.
    (`paddle.set_num_threads` does not exist and FLAGS_paddle_num_threads is not applied in oneDNN
    builds: this C++ binding calls MKL_Set_Num_Threads and omp_set_num_threads.)"""
    import paddle
    paddle.base.core.set_num_threads(int(num_threads))


def configure_cpu(num_threads: int | None = None, tune_malloc: bool | None = None) -> dict:
    """Apply the CPU settings once (later calls only change the thread count if one is given).

    Call it before the first matmul: MKL reads MKL_DEBUG_CPU_TYPE at its first BLAS call, not at
    `import paddle`. An explicit thread count stays in force: a later call without one (such as
    the one every model construction makes) leaves it alone.

    num_threads: None picks `default_num_threads()` (PADDLE_WWM_NUM_THREADS, a user-set
    OMP_NUM_THREADS, or all usable CPUs). tune_malloc: see `tune_glibc_malloc()`; None reads
    PADDLE_WWM_TUNE_MALLOC (default on). Returns what was applied."""
    if not _state:
        _state["mkl_amd_fix"] = apply_mkl_amd_fix()
        if _state["mkl_amd_fix"] and _mkl_cpu_path() == 0:
            logger.warning("MKL already chose its generic SSE2 kernels (a matmul ran before "
                           "paddle_wwm.runtime.configure_cpu()); GEMMs stay ~2.5x slower in this process")
    if tune_malloc is None:
        tune_malloc = os.environ.get("PADDLE_WWM_TUNE_MALLOC", "1").lower() not in ("0", "false", "no", "off")
    if tune_malloc and not _state.get("malloc_tuned"):
        _state["malloc_tuned"] = tune_glibc_malloc()
    if not _state.get("omp_env_restored"):
        _state["omp_env_restored"] = _restore_users_omp_env()
    if num_threads is None and "num_threads" in _state:
        return dict(_state)
    threads = int(num_threads) if num_threads is not None else default_num_threads()
    try:
        set_num_threads(threads)
        _state["num_threads"] = threads
    except Exception as error:  # a paddle build without this binding: leave paddle's default
        logger.warning("could not set Paddle's CPU thread count: %s", error)
        _state["num_threads"] = None
    return dict(_state)


def maybe_configure_cpu() -> dict | None:
    """configure_cpu() unless PADDLE_WWM_CONFIGURE_CPU=0: the implicit call where models are built.

    After the first call it only returns the settings in force (a no-op)."""
    if _state:
        return dict(_state)
    if os.environ.get("PADDLE_WWM_CONFIGURE_CPU", "1").lower() in ("0", "false", "no", "off"):
        return None
    try:
        return configure_cpu()
    except Exception as error:  # never break model construction over a performance setting
        logger.warning("paddle_wwm.runtime.configure_cpu failed: %s", error)
        return None


# The instruction sets the fast CPU paths need: oneDNN's bf16 GEMMs need AVX512-BF16 or AMX-BF16;
# int8 GEMMs (oneDNN, ONNX Runtime's u8s8 kernels) run at full speed with VNNI (AVX512-VNNI,
# AVX-VNNI or AMX-INT8): without it AVX2/AVX-512 emulate the int8 dot product in three instructions.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
PATH_NEEDS = {"bf16": ("avx512_bf16", "amx_bf16"), "int8-vnni": ("avx512_vnni", "avx_vnni", "amx_int8")}


def isa_flags() -> dict[str, bool]:
    """Which of ISA_FLAGS this CPU has (from /proc/cpuinfo; all False where unreadable)."""
    _, flags = _cpu_flags()
    return {name: name in flags for name in ISA_FLAGS}


def missing_for(path: str) -> str | None:
    """None if this CPU has an instruction set the path ("bf16" or "int8-vnni") needs, else what
    it lacks, e.g. "avx512_bf16 or amx_bf16"."""
    needed = PATH_NEEDS[path]
    have = isa_flags()
    return None if any(have[name] for name in needed) else " or ".join(needed)


def bf16_supported() -> bool:
    """Whether oneDNN can run bf16 GEMMs natively here (AVX512-BF16 or AMX-BF16) in this paddle build."""
    _, flags = _cpu_flags()
    try:
        import paddle
        core = paddle.base.core
        onednn = (getattr(core, "is_compiled_with_onednn", None) or core.is_compiled_with_mkldnn)()
    except Exception:
        return False
    return onednn and bool({"avx512_bf16", "amx_bf16"} & flags)


def inference_config(model_file: str, params_file: str, precision: str = "fp32",
                     num_threads: int | None = None):
    """A paddle.inference.Config for CPU with oneDNN, the fastest CPU path in this paddle.

    precision: "fp32" or "bf16" (oneDNN bf16 GEMMs; needs `bf16_supported()`)."""
    import paddle.inference as paddle_infer

    configure_cpu()
    config = paddle_infer.Config(model_file, params_file)
    config.disable_gpu()
    # The predictor keeps its own math-library thread count (default 1), apart from dygraph's.
    config.set_cpu_math_library_num_threads(num_threads or _state.get("num_threads") or default_num_threads())
    enable = getattr(config, "enable_onednn", None) or config.enable_mkldnn
    enable()
    if precision == "bf16":
        if not bf16_supported():
            raise RuntimeError("bf16 inference needs a CPU with AVX512-BF16 or AMX and a oneDNN build of paddle")
        (getattr(config, "enable_onednn_bfloat16", None) or config.enable_mkldnn_bfloat16)()
    elif precision != "fp32":
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    config.disable_glog_info()
    return config


def _onednn_flags() -> list[str]:
    import paddle
    names = []
    for name in ("FLAGS_use_onednn", "FLAGS_use_mkldnn"):  # paddle 3 has both; 2.x only the second
        try:
            paddle.get_flags([name])
            names.append(name)
        except Exception:
            pass
    return names


class _OneDNNScope:
    """Turns paddle's oneDNN flag on for the duration of a call and restores it after.

    The flag is read when a static program is built and its kernels chosen (first call, and again
    for every new input shape without an InputSpec); dygraph ignores it. Scoping it to our calls
    leaves the rest of the user's process as it was."""

    def __enter__(self):
        import paddle
        names = _onednn_flags()
        self.saved = paddle.get_flags(names) if names else {}
        if names:
            paddle.set_flags({name: True for name in names})

    def __exit__(self, *exc):
        import paddle
        if self.saved:
            paddle.set_flags(self.saved)


def cpu_static(model, precision: str = "fp32", input_spec=None):
    """Our model as a static program run with oneDNN kernels, in process (no export, no files).

    paddle.jit.to_static + oneDNN gives most of Paddle Inference's speed on CPU, and with
    precision="bf16" paddle's AMP (O1: matmuls in bf16, softmax/layer_norm in fp32) runs the GEMMs
    with oneDNN's AVX512-BF16 kernels (speed and output differences: benchmarks/CPU_NOTES.md).
    Eval/inference only (call model.eval() first). The returned callable takes the model's inputs;
    without `input_spec` a new program is built for every new input shape."""
    import paddle

    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if precision == "bf16" and not bf16_supported():
        raise RuntimeError("bf16 needs a CPU with AVX512-BF16 or AMX and a oneDNN build of paddle")
    configure_cpu()
    bf16 = precision == "bf16"

    class _Forward(paddle.nn.Layer):
        # AMP must be entered inside the traced function: an auto_cast around the call of a
        # to_static program does not reach it.
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kwargs):
            with paddle.amp.auto_cast(enable=bf16, dtype="bfloat16", level="O1"):
                return self.inner(*args, **kwargs)

    # to_static binds call arguments by the forward's signature, so give it the model's.
    import inspect
    signature = inspect.signature(model.forward)
    forward = _Forward.forward

    def typed_forward(self, *args, **kwargs):
        return forward(self, *args, **kwargs)

    typed_forward.__signature__ = signature.replace(
        parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                    *signature.parameters.values()])
    _Forward.forward = typed_forward

    static = paddle.jit.to_static(_Forward(model), input_spec=input_spec, full_graph=True)

    def run(*args, **kwargs):
        with _OneDNNScope(), paddle.no_grad():
            return static(*args, **kwargs)

    run.program = static
    return run


def cpu_report() -> dict:
    """Diagnostics: CPU vendor/ISA, MKL version and the code path MKL chose, thread settings.

    Calling it dispatches MKL (mkl_serv_cpu_detect), so call it after configure_cpu()."""
    vendor, flags = _cpu_flags()
    report = {
        "vendor": vendor,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "usable_cpus": _usable_cpus(),
        "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE"),
        "configured": dict(_state),
    }
    path = _mkl_path()
    if path is not None:
        try:
            mkl = ctypes.CDLL(str(path))  # the same handle paddle dlopened
            buf = ctypes.create_string_buffer(256)
            mkl.MKL_Get_Version_String(buf, len(buf))
            report["mkl_version"] = buf.value.decode(errors="replace").strip()
            report["mkl_max_threads"] = mkl.MKL_Get_Max_Threads()
            # 0 = generic SSE2 path, 5 = AVX2, 6/7 = AVX-512 (MKL 2019 codes)
            report["mkl_cpu_path"] = _mkl_cpu_path()
        except (OSError, AttributeError) as error:
            report["mkl_error"] = str(error)
    return report
