"""Run a snippet in a fresh Python whose import system behaves as if torch, tensorflow and h5py
were not installed, and hand back what the snippet pickled."""
import os
import pickle
import subprocess
import sys
import textwrap

HIDDEN = ("torch", "tensorflow", "h5py", "keras")

_PRELUDE = f'''
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden for this test)", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''

_EPILOGUE = f'''
import pickle
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {HIDDEN!r})
assert not loaded, loaded
with open(sys.argv[1], "wb") as handle:
    pickle.dump(result, handle)
'''


def run_without_torch_and_tensorflow(snippet: str, tmp_path, *args):
    """Runs `snippet` (which sets `result`; extra args are sys.argv[2:]) and returns `result`."""
    out = tmp_path / "hidden_result.pkl"
    code = _PRELUDE + textwrap.dedent(snippet) + _EPILOGUE
    done = subprocess.run([sys.executable, "-c", code, str(out), *map(str, args)], env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out, "rb") as handle:
        return pickle.load(handle)
