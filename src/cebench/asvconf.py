"""Copies of asv.conf.json pointed elsewhere: scratch results, another clone, a test run.

asv resolves the config's relative paths against the config's own folder, so a copy
written anywhere else must carry absolute ones.
"""

from __future__ import annotations

import json
from pathlib import Path

#: asv.conf.json keys that hold paths.
PATH_KEYS = ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir")

#: The names asv looks for (in the current directory only; cebench also looks upwards).
CONFIG_NAMES = ("asv.conf.json", "asv.conf.jsonc")


def find_project_root(start: Path | None = None) -> Path | None:
    """The project a command runs in: the nearest folder holding an asv config, from
    ``start`` (default: the current directory) upwards; None outside any project."""
    start = Path.cwd() if start is None else Path(start)
    for folder in (start.resolve(), *start.resolve().parents):
        if any((folder / name).is_file() for name in CONFIG_NAMES):
            return folder
    return None


def load(path: Path) -> dict:
    """asv.conf.json (JSON with // comments) as a dict, read the way asv reads it."""
    from asv import util

    return util.load_json(str(path), js_comments=True)


def write_relocated(conf_path: Path, out_path: Path, **overrides) -> Path:
    """Write a copy of ``conf_path`` to ``out_path``: every path absolute, then ``overrides``.

    Path-valued overrides (e.g. ``results_dir=tmp / "results"``) are made absolute too;
    others (e.g. ``branches=["main"]``) are set as given.
    """
    conf_path = Path(conf_path)
    conf = load(conf_path)
    root = conf_path.resolve().parent
    for key in PATH_KEYS:
        if key in conf:
            conf[key] = str((root / conf[key]).resolve())
    for key, value in overrides.items():
        conf[key] = str(Path(value).resolve()) if isinstance(value, Path) else value
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(conf, indent=1))
    return out_path
