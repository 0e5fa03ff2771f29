"""The command line's error policy and its quiet start: the project's own errors are one line and
exit code 2; any other exception (a bug) keeps its traceback; warnings that other packages raise on
every run, which the user can do nothing about, do not reach the terminal."""
import ast
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from paddle_wwm import store
from test_layers import module_files
from paddle_wwm.cli import ignore_foreign_warnings, main
from paddle_wwm.errors import InvalidInputError, PaddleWwmError


def _failing(error):
    def listing():
        raise error
    return listing


@pytest.mark.parametrize("error", [PaddleWwmError("the store is unreadable"),
                                   InvalidInputError("the store is unreadable")])
def test_a_project_error_is_one_line_and_exit_code_2(monkeypatch, capsys, error):
    monkeypatch.setattr(store, "listing", _failing(error))
    assert main(["zoo", "--json"]) == 2
    assert capsys.readouterr().err == "paddle-wwm zoo: error: the store is unreadable\n"


@pytest.mark.parametrize("error", [KeyError("hidden"), ValueError("not a user error"), TypeError("a bug")])
def test_any_other_error_keeps_its_traceback(monkeypatch, error):
    monkeypatch.setattr(store, "listing", _failing(error))
    with pytest.raises(type(error)):
        main(["zoo", "--json"])


def test_a_missing_user_file_is_one_line(tmp_path, capsys):
    assert main(["check-data", "--task", "chnsenticorp", str(tmp_path / "nope.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paddle-wwm check-data: error: ") and "nope.tsv" in err and len(err.splitlines()) == 1


def test_every_error_class_of_the_package_is_a_project_error():
    """A public class named *Error must derive from PaddleWwmError (through another such class or
    directly), or the command line would show a traceback for a message written for the user."""
    bases = {}
    for module, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error") and not node.name.startswith("_"):
                bases[f"{module}.{node.name}"] = {ast.unparse(b).split(".")[-1] for b in node.bases}
    project = {"PaddleWwmError"}
    while True:  # names whose bases reach PaddleWwmError
        grown = project | {name.rsplit(".", 1)[1] for name, named in bases.items() if named & project}
        if grown == project:
            break
        project = grown
    outside = sorted(name for name in bases if name.rsplit(".", 1)[1] not in project)
    assert not outside, f"errors that do not derive from paddle_wwm.errors.PaddleWwmError: {outside}"


def test_the_foreign_warning_filter_is_narrow():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignore_foreign_warnings()
        warnings.warn("No ccache found. Please be aware that recompiling ...", UserWarning)
        warnings.warn("No ccache found, but raised as another category", RuntimeWarning)
        warnings.warn("a warning of the user's own", UserWarning)
    assert [str(w.message) for w in caught] == ["No ccache found, but raised as another category",
                                                "a warning of the user's own"]


def test_a_command_prints_no_foreign_warning():
    command = [str(Path(sys.executable).with_name("paddle-wwm")), "zoo"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    assert result.returncode == 0, result.stderr
    assert "rbt3" in result.stdout
    assert "ccache" not in result.stderr and "Warning" not in result.stderr, result.stderr
