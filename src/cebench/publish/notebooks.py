"""`cebench notebooks`: execute the analysis notebooks headless, write offline HTML.

    cebench notebooks --results results --out html/analysis

Each ``analysis/*.ipynb`` runs in a fresh kernel of *this* Python (a kernelspec written
to a temporary folder, so no installed ``python3`` spec of another interpreter is
picked up), with ``CEBENCH_RESULTS`` and ``CEBENCH_ANALYSIS_OUT`` set; its figures go
to the out folder, and the executed notebook is written there as HTML that loads
nothing from the network (no MathJax, no require.js, no CDN styles: see
:func:`to_offline_html`).

Every notebook is read and validated before any runs (:func:`check_notebooks`). The out
folder is built aside and replaces the previous one only when every notebook has run
(:func:`cebench.atomic.staging_dir`): a failure or a Ctrl-C leaves it exactly as it was.
Each run's time per notebook is kept in the out folder (``.timings.json``): the next run
uses it to say how long each notebook will take.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from cebench import atomic
from cebench.errors import InputError

#: Each notebook's execution time in the last complete run (in the out folder).
TIMINGS_FILE = ".timings.json"

#: The notebooks of the checkout cebench is imported from (src layout: <repo>/src/cebench/
#: -> <repo>/analysis); outside a checkout (an installed wheel) this folder does not exist.
DEFAULT_NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "analysis"

#: An external script or stylesheet in HTML: what the offline page must not contain.
EXTERNAL_RESOURCE = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def find_notebook_dir(start: Path | None = None) -> Path | None:
    """The project's ``analysis/`` folder: that of the nearest folder holding asv.conf.json,
    from ``start`` (default: the current directory) upwards, else that of the checkout
    cebench is imported from (an editable install); None when neither has notebooks."""
    from cebench.asvconf import find_project_root

    root = find_project_root(start)
    for folder in ([root / "analysis"] if root else []) + [DEFAULT_NOTEBOOK_DIR]:
        if notebook_paths(folder):
            return folder
    return None


def notebook_paths(notebook_dir: Path = DEFAULT_NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in Path(notebook_dir).glob("*.ipynb")
                  if not p.name.startswith("."))


def _kernel_manager(kernel_dir: Path):
    """An (asyncio) kernel manager for this interpreter's ipykernel (not whatever
    'python3' resolves to), its sockets and connection file in ``kernel_dir``."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    write_kernel_spec(kernel_dir / "cebench-python",
                      overrides={"display_name": f"cebench ({sys.executable})"})
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="cebench-python", kernel_spec_manager=specs,
                              transport="ipc", ip=str(kernel_dir / "ipc"),
                              connection_file=str(kernel_dir / "kernel.json"))


def _execute_interruptibly(client, km) -> None:
    """``client.execute()`` in an event loop of its own; then the kernel is shut down.

    A Ctrl-C raises KeyboardInterrupt within about a second: nbclient's own SIGINT and
    SIGTERM handlers (which shut down only a kernel nbclient owns, then keep waiting for
    the running cell up to its timeout) are not installed, and the asyncio kernel client
    waits in the event loop, not in a blocking socket poll that a signal cannot reach.
    Whatever happens, the running tasks are cancelled and the kernel is shut down.
    """
    import asyncio

    loop = asyncio.new_event_loop()
    loop.add_signal_handler = lambda *args, **kwargs: None  # keep Python's handlers
    try:
        loop.run_until_complete(client.async_execute())
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        if km.has_kernel:  # nbclient leaves a kernel it did not create running
            loop.run_until_complete(km.shutdown_kernel(now=True))
        loop.close()


def execute(path: Path, results_dir: Path, out_dir: Path, timeout_s: int = 600):
    """Run one notebook in a fresh kernel with the cebench env vars; the executed notebook.

    Raises nbclient's ``CellExecutionError`` (with the failing cell's traceback) on error,
    KeyboardInterrupt on Ctrl-C (the kernel shut down, its temporary folder removed).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {"CEBENCH_RESULTS": str(Path(results_dir).resolve()),
           "CEBENCH_ANALYSIS_OUT": str(Path(out_dir).resolve())}
    saved = {k: os.environ.get(k) for k in [*env, "MPLBACKEND"]}
    os.environ.update(env)  # the kernel inherits this process's environment
    os.environ.pop("MPLBACKEND", None)  # ipykernel's inline backend: figures in the page
    try:
        with tempfile.TemporaryDirectory(prefix="cebench-kernel-") as kernel_dir:
            km = _kernel_manager(Path(kernel_dir))
            client = NotebookClient(nb, km=km, timeout=timeout_s,
                                    resources={"metadata": {"path": str(path.parent)}})
            _execute_interruptibly(client, km)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def to_offline_html(nb, local_paths: dict[str, str] | None = None) -> str:
    """The notebook as a self-contained HTML page for readers: outputs only (no code
    cells), no script or stylesheet from the web, no local paths.

    nbconvert's 'lab' template links require.js and MathJax from CDNs; this uses the
    'basic' template (inline styles only) wrapped in a minimal page, and refuses to
    return a page that still references an external resource. ``local_paths``: each
    key (a folder of this machine) is replaced by its value wherever it appears.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.anchor_link_text = ""  # no '¶' after every heading
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    body, _ = exporter.from_notebook_node(nb)
    title = nb.metadata.get("title") or _first_heading(nb) or "cebench analysis"
    from cebench.publish.pages import nav

    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_STYLE}</style></head>\n"
            f"<body>{nav('cebench/analysis.html', '../')}<main>{body}</main></body></html>\n")
    for path, shown in sorted((local_paths or {}).items(), key=lambda kv: -len(kv[0])):
        if path:
            page = page.replace(path.rstrip("/") + "/", shown).replace(path.rstrip("/"),
                                                                        shown.rstrip("/") or ".")
    found = EXTERNAL_RESOURCE.search(page)
    if found:
        raise RuntimeError(f"HTML would load an external resource: {found.group(0)[:120]}")
    return page


def _first_heading(nb) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return None


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
nav.site { background: #0b3d6e; padding: .45rem 1.5rem; font-size: .95rem; }
nav.site a { color: #fff; margin-right: 1.2rem; text-decoration: none; }
nav.site a.here { font-weight: 700; text-decoration: underline; }
details { margin: .4rem 0 1rem; } summary { cursor: pointer; color: #0b5cad; }
.jp-RenderedHTMLCommon table, .rendered_html table { margin: .4rem 0 1rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 2rem; }
pre, code { font-family: ui-monospace, monospace; font-size: 0.85rem; }
.jp-InputArea pre, .input_area pre { background: #f6f8fa; padding: 0.5rem; overflow-x: auto; }
.jp-OutputArea pre, .output pre { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; }
img { max-width: 100%; }
"""


def reader_paths(results_dir: Path, out_dir: Path, *build_dirs: Path) -> dict[str, str]:
    """Local folders -> what a reader of the published page sees instead (``build_dirs``:
    where the pages are built before they move to ``out_dir``)."""
    paths = {str(Path(results_dir).resolve()): "results/", str(Path(out_dir).resolve()): "",
             str(DEFAULT_NOTEBOOK_DIR.parent): "", str(Path.home()): "~/"}
    paths.update({str(Path(d).resolve()): "" for d in build_dirs})
    return {k: v for k, v in paths.items() if k not in ("/", "")}


def check_notebooks(notebook_dir: Path) -> list[Path]:
    """The notebooks to run, each read and validated first; InputError naming the first
    that is not a readable notebook (nothing has run, nothing is written)."""
    import nbformat

    paths = notebook_paths(notebook_dir)
    if not paths:
        raise InputError(f"no notebooks (*.ipynb) in {notebook_dir}")
    for path in paths:
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as exc:  # noqa: BLE001 -- NotJSONError, ValidationError, OSError ...
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"{path} is not a readable notebook ({text[:200]})") from None
    return paths


def check_out_dir(out_dir: Path) -> None:
    """Refuses an out folder that holds files but no notebook page: it is replaced whole,
    and a mistyped --out must not replace a source tree."""
    atomic.check_creatable_dir(out_dir, "--out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not any(out_dir.glob("*.html")):
        raise InputError(f"--out {out_dir} is not empty and holds no notebook pages (it is "
                         "replaced whole): choose another folder")


def previous_timings(out_dir: Path) -> dict[str, float]:
    """Each notebook's seconds in the last complete run into ``out_dir`` ({} if none)."""
    try:
        data = json.loads((Path(out_dir) / TIMINGS_FILE).read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def duration(seconds: float) -> str:
    """'40 s', '12 min' or '2.5 h': a time for a progress line."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(name: str, done: dict[str, float], previous: dict[str, float]) -> str:
    """'about 12 s' for a notebook: its time in the previous run, else the mean of this
    run's notebooks so far, else '' (no estimate yet)."""
    if name in previous:
        return f"about {duration(previous[name])}, as last time"
    if done:
        return f"about {duration(sum(done.values()) / len(done))}, the mean so far"
    return ""


def run_all(results_dir: Path, out_dir: Path, notebook_dir: Path = DEFAULT_NOTEBOOK_DIR,
            timeout_s: int = 600, log=None) -> list[Path]:
    """Execute every notebook; write ``<name>.html`` (and its figures) to ``out_dir``, all
    or nothing (see the module doc). ``log``: called with one progress line per step."""
    log = log or (lambda line: None)
    paths = check_notebooks(notebook_dir)
    check_out_dir(out_dir)
    previous = previous_timings(out_dir)
    known = [previous[p.name] for p in paths if p.name in previous]
    total = (f"; about {duration(sum(previous.values()))} in all, as last time"
             if len(known) == len(paths) else "")
    log(f"cebench notebooks: {len(paths)} notebook(s) from {notebook_dir} into {out_dir}, "
        f"built aside and moved there when all have run{total}")
    done: dict[str, float] = {}
    start_all = time.perf_counter()
    with atomic.staging_dir(out_dir) as staging:
        for i, path in enumerate(paths, 1):
            guess = estimate(path.name, done, previous)
            log(f"cebench notebooks: [{i}/{len(paths)}] {path.name}: running"
                + (f" ({guess})" if guess else ""))
            start = time.perf_counter()
            nb = execute(path, results_dir, staging, timeout_s)
            (staging / f"{path.stem}.html").write_text(
                to_offline_html(nb, reader_paths(results_dir, out_dir, staging)),
                encoding="utf-8")
            done[path.name] = round(time.perf_counter() - start, 1)
            log(f"cebench notebooks: [{i}/{len(paths)}] {path.name}: done in "
                f"{done[path.name]:.1f} s")
        (staging / TIMINGS_FILE).write_text(json.dumps(done, indent=1))
    log(f"cebench notebooks: {len(paths)} page(s) in {out_dir} "
        f"({time.perf_counter() - start_all:.0f} s)")
    return [out_dir / f"{p.stem}.html" for p in paths]
