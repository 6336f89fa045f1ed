"""asv.conf.json read by asv 0.6.6's own code: which environments a machine gets, their
names, and what goes into them."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH_VERSIONS = ("2.13.0", "2.14.1")


def _environments(monkeypatch, version: tuple[int, int], interpreters: set[str]) -> list[str]:
    """Names of the environments plain `asv run` would build on a machine whose asv runs
    under Python ``version`` and whose PATH holds ``interpreters`` (a fake machine; asv's
    Config, iter_matrix and Virtualenv._find_python are the real ones)."""
    from asv import config, environment, util
    from asv.plugins import virtualenv

    fake_sys = types.SimpleNamespace(version_info=(*version, 0, "final", 0),
                                     executable=f"/usr/bin/python{version[0]}.{version[1]}")
    monkeypatch.setattr(config, "sys", fake_sys)
    monkeypatch.setattr(virtualenv, "sys", fake_sys)

    def which(name, paths=None):
        if name in interpreters:
            return f"/usr/bin/{name}"
        raise OSError(f"{name} not found")

    monkeypatch.setattr(util, "which", which)
    conf = config.Config.load(str(ROOT / "asv.conf.json"))
    return [env.name for env in environment.get_environments(conf, None, verbose=False)]


def test_a_machine_with_only_python_3_12_gets_the_matrix(monkeypatch):
    """asv source (plugins/virtualenv.py ``_find_python``): a "pythons" entry without a
    matching interpreter yields no environment at all."""
    names = _environments(monkeypatch, (3, 12), {"python3.12"})
    assert names == [f"virtualenv-py3.12-numpy-torch{v}" for v in TORCH_VERSIONS]


def test_two_pythons_do_not_double_the_matrix(monkeypatch):
    names = _environments(monkeypatch, (3, 11), {"python3.11", "python3.12"})
    assert names == [f"virtualenv-py3.11-numpy-torch{v}" for v in TORCH_VERSIONS]


def test_environment_names_match_the_committed_results(monkeypatch):
    """asv names results files <commit>-<environment>.json: the development venv (3.11)
    must keep producing the names of the results already committed."""
    names = set(_environments(monkeypatch, (3, 11), {"python3.11"}))
    # replicate runs keep asv's name plus '-r<k>'; '-E existing' runs (the A/A series)
    # are named after the interpreter, not after the matrix
    committed = {re.sub(r"-r\d+$", "", re.sub(r"^[0-9a-f]{8}-", "", path.stem))
                 for path in ROOT.glob("results/*/*.json") if path.name != "machine.json"}
    committed = {name for name in committed if not name.startswith("existing-")}
    # `cebench history` gives each release a matrix of its own (cebench.history)
    from cebench import history

    names |= {f"virtualenv-py3.11-numpy{r.numpy}-torch{r.torch}"
              for r in map(history.release, history.DEFAULT_RELEASES)}
    assert committed and committed <= names


def test_every_environment_installs_nvidia_ml_py():
    """Without nvidia-ml-py every NVML figure is NaN and no throttled sample is dropped."""
    from asv import config, util

    conf = config.Config.load(str(ROOT / "asv.conf.json"))
    commands = [util.interpolate_command(c, {"env_dir": "/env", "wheel_file": "x.whl"})
                for c in conf.install_command]
    installs = [args for args, _env, _codes, _cwd in commands if args[1:4] == ["-m", "pip", "install"]]
    assert any(arg.startswith("nvidia-ml-py") for args in installs for arg in args)
    assert any("x.whl" in args and "--no-deps" in args for args in installs)

