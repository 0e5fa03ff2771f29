"""Process-wide CPU state read back from the libraries that hold it, not from paddle_wwm's own
record. Paddle-free at import, so a fresh process can use it before (or without) importing paddle."""
import ctypes
from pathlib import Path


def paddle_thread_counts() -> tuple[int, int] | None:
    """(OpenMP, MKL) thread counts for the calling thread, as the libiomp5 and MKL that Paddle
    ships and calls report them; None for a paddle build without them. Imports paddle.

    Paddle has no thread-count getter; its `core.set_num_threads` calls omp_set_num_threads and
    MKL_Set_Num_Threads in these libraries. MKL caps its count at the physical cores."""
    import paddle

    libs = Path(paddle.__file__).parent / "libs"
    if not (libs / "libiomp5.so").exists() or not (libs / "libmklml_intel.so").exists():
        return None
    omp = ctypes.CDLL(str(libs / "libiomp5.so")).omp_get_max_threads()  # the handle paddle loaded
    mkl = ctypes.CDLL(str(libs / "libmklml_intel.so")).MKL_Get_Max_Threads()
    return omp, mkl


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def malloc_mmaps_large_blocks(nbytes: int = 64 << 20) -> bool | None:
    """Whether glibc malloc serves a block of `nbytes` with an mmap of its own (glibc's default)
    rather than from the heap (after mallopt(M_MMAP_MAX, 0)); None where there is no mallinfo2
    (not glibc, or glibc < 2.33). 64 MiB is above glibc's largest adaptive mmap threshold, so only
    M_MMAP_MAX keeps such a block in the heap."""
    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _Mallinfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    before = mallinfo2().hblks
    block = libc.malloc(nbytes)
    mmapped = mallinfo2().hblks > before
    libc.free(block)
    return mmapped


def loaded_libraries() -> set[str]:
    """File names of the shared libraries mapped into this process (Linux)."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {Path(line.split()[-1]).name for line in maps if line.rstrip().endswith(".so") or ".so." in line}
