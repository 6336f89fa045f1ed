"""The benchmark charts of the site (html/benchmarks.html): ``asv publish``, then
asv-tachyon's offline UI over it, adapted to open from disk and to show data, not verdicts.

- ``asv publish`` writes the data (index.json, graphs/) into html/; asv-tachyon installs
  its single-page UI over it (the stock asv page loads jQuery/flot/Bootstrap from CDNs and
  shows nothing offline). The UI's page becomes ``benchmarks.html``: the site's front
  page is cebench's own (:mod:`cebench.publish.front`).
- **From disk.** Browsers refuse module scripts, CORS stylesheets and ``fetch()`` on
  ``file://`` pages. The UI's bundle has no import or export, so it loads as a classic
  deferred script; its stylesheet loses ``crossorigin``; every JSON data file gets a
  sibling ``<name>.json.js`` that hands its content to a small ``fetch`` stand-in
  (:data:`FILE_DATA_JS`), used only on ``file://``.
- **Data, not verdicts.** asv's regression feed and the UI's change colours treat every
  series as lower-is-better and judge one run per commit against a fixed factor, which
  contradicts `cebench compare`. The patches (:data:`PATCHES`) remove the Regressions
  tab, the "only-regressed" filter, the regressed/improved counts and the front cards'
  change percentages, and draw changes and heatmaps in grey; the verdicts are on the
  front page, with their rules.
- **Legible charts.** The y axis is as wide as its longest label (asv-tachyon 0.5.8 fixes
  64 px, which cuts the first digit of '650.000µs') and carries the unit; the x axis is
  labelled.

A bundle that lacks a patched text (another asv-tachyon release) fails the part with the
text's name: asv-tachyon is pinned in the ``analysis`` extra.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cebench import asvconf
from cebench.publish import subprocesses

PAGE = "benchmarks.html"
FILE_DATA_SCRIPT = "cebench-file-data.js"
BAR_MARKER = "<!-- cebench bar -->"

#: (name, text in asv-tachyon 0.5.8's bundle, replacement); each text occurs once.
PATCHES = [
    ("change colours", 'function od(a,c,r=.05){return a==null||!Number.isFinite(a)||'
     'Math.abs(a)<r?"muted":(c?a>0:a<0)?"delta-down":"delta-up"}',
     'function od(){return"muted"}'),
    ("direction of units", 'function mi(a){return a.less_is_better===!1?!0:a.less_is_better===!0?!1:'
     '!!((a.unit||"").toLowerCase().includes("ops")||(a.type||"").toLowerCase()==="track")}',
     'function mi(a){return a.less_is_better===!1?!0:a.less_is_better===!0?!1:'
     'HIGHER_IS_BETTER.includes((a.unit||"").toLowerCase())}'),
    ("heatmap colours", 'function jv(a,c){if(a==null||!Number.isFinite(a))return"transparent";'
     'const r=c?1/a:a;return r>=1.2?"color-mix(in oklab, var(--danger) 55%, transparent)":'
     'r>=1.05?"color-mix(in oklab, var(--danger) 28%, transparent)":r<=.8?'
     '"color-mix(in oklab, var(--ok) 55%, transparent)":r<=.95?'
     '"color-mix(in oklab, var(--ok) 28%, transparent)":'
     '"color-mix(in oklab, var(--text-faint) 8%, transparent)"}',
     'function jv(a){if(a==null||!Number.isFinite(a)||a<=0)return"transparent";'
     'const m=Math.min(1,Math.abs(Math.log2(a)));return"color-mix(in oklab, var(--text-faint) "'
     '+Math.round(6+40*m)+"%, transparent)"}'),
    ("overview card change", 'v.change!=null&&m&&o.jsxs("span",{className:od(v.change,mi(m)),'
     'children:[(v.change*100).toFixed(1),"%"]})', "null"),
    ("library card change", 'D&&o.jsx("span",{className:od(C.change,mi(v)),children:D})', "null"),
    ("regressions tab", '{id:"regressions",label:"Regressions"},', ""),
    ("only-regressed filter", 'o.jsxs("button",{type:"button",className:"param-chip"+(y?" on":""),'
     'onClick:()=>b(!y),children:["only-regressed ",o.jsxs("span",{className:"muted",'
     'children:["(",g,")"]})]})', "null"),
    ("compare counts (environments)", 'o.jsxs("span",{className:"chip ok",children:[ne," improved"]}),'
     'o.jsxs("span",{className:"chip bad",children:[ie," regressed"]}),', ""),
    ("compare counts (commits)", 'o.jsxs("span",{className:"chip ok",children:[M.filter(ie=>'
     'ie.mark==="-").length," improved"]}),o.jsxs("span",{className:"chip bad",children:'
     '[M.filter(ie=>ie.mark==="+").length," regressed"]}),', ""),
    ("x axis", 'axes:[{stroke:ke,grid:{stroke:Je,width:1},ticks:{stroke:Je},'
     'font:"11px JetBrains Mono, monospace",values:(ce,Ce)=>Ce.map(We=>xl(We))},',
     'axes:[{stroke:ke,grid:{stroke:Je,width:1},ticks:{stroke:Je},'
     'font:"11px JetBrains Mono, monospace",label:"commit (oldest to newest)",'
     'labelFont:"12px system-ui, sans-serif",labelSize:22,values:(ce,Ce)=>Ce.map(We=>xl(We))},'),
    ("y axis", 'font:"11px JetBrains Mono, monospace",size:64,values:(ce,Ce)=>Ce.map(We=>vl(We,r))}',
     'font:"11px JetBrains Mono, monospace",label:r||"",labelFont:"12px system-ui, sans-serif",'
     'labelSize:22,size:(u,v)=>v&&v.length?Math.ceil(Math.max(...v.map(s=>String(s).length))'
     '*7.2)+16:64,values:(ce,Ce)=>Ce.map(We=>vl(We,r))}'),
]

#: The stand-in for fetch() on file:// pages: each data file X.json has a sibling
#: X.json.js calling __cebenchData(document.currentScript.src, <its JSON>).
FILE_DATA_JS = """// cebench: lets the benchmark charts open from disk (file://), where browsers refuse
// fetch(). Each data file X.json has a sibling X.json.js that hands its content here.
(function () {
  if (location.protocol !== "file:") return;
  var waiting = {};
  window.__cebenchData = function (src, data) {
    var list = waiting[src] || [];
    delete waiting[src];
    list.forEach(function (done) { done(data); });
  };
  var realFetch = window.fetch;
  window.fetch = function (input, init) {
    var url = new URL(typeof input === "string" ? input : input.url, document.baseURI);
    if (url.protocol !== "file:" || !/[.]json$/.test(url.pathname)) {
      return realFetch.apply(this, arguments);
    }
    return new Promise(function (resolve) {
      var script = document.createElement("script");
      url.hash = ""; url.search = "";
      script.src = url.href + ".js";
      var key = script.src, done = false;
      function answer(response) { if (!done) { done = true; resolve(response); } }
      (waiting[key] = waiting[key] || []).push(function (data) {
        answer(new Response(JSON.stringify(data), {
          status: 200, headers: {"Content-Type": "application/json"}}));
      });
      function missing() { answer(new Response("", {status: 404, statusText: "Not Found"})); }
      script.onload = function () { script.remove(); missing(); };
      script.onerror = function () { script.remove(); missing(); };
      document.head.appendChild(script);
    });
  };
})();
"""

_STYLE = """<style>
#cebench-bar{background:#0b3d6e;color:#fff;font:14px system-ui,sans-serif;padding:.45rem 1.5rem}
#cebench-bar a{color:#fff;margin-right:1.2rem}
#cebench-bar span{color:#d0e2f5}
.param-picker .param-chips{max-height:7.5rem;overflow-y:auto;padding-right:.3rem}
.delta-up,.delta-down{color:inherit!important}
.chip.ok,.chip.bad{background:transparent!important;color:inherit!important}
</style>"""

_BAR = (BAR_MARKER + '<div id="cebench-bar"><a href="index.html">&larr; cebench answers</a>'
        '<a href="cebench/findings.html">Findings</a>'
        "<span>Every series asv recorded, per commit and environment: the data, with no "
        "verdicts (one run per commit cannot tell a change from noise). The verdicts, with "
        "their rules, are on the answers page.</span></div>")

_WAITING = ('<div id="root"><p style="font:15px system-ui,sans-serif;margin:2rem">Loading the '
            "benchmark charts&hellip; If this stays, this browser could not run the charts "
            "from disk: serve the site with <code>cebench dashboard --serve</code> and open the "
            "address it prints.</p></div>")


class PatchError(RuntimeError):
    """The UI's bundle is not the one these patches were written for."""


def higher_is_better() -> list[str]:
    """The units where a larger value is better (cebench.results.compare's directions)."""
    from cebench.results import compare

    return sorted(u for u, sign in compare.WORSE_WHEN.items() if sign < 0)


def patch_bundle(text: str) -> str:
    """The bundle with every :data:`PATCHES` applied; PatchError naming a missing text.
    The UI treats every ``track_`` series as higher-is-better; here a unit's direction is
    compare's (:func:`higher_is_better`)."""
    text = f"const HIGHER_IS_BETTER={json.dumps(higher_is_better())};" + text
    for name, old, new in PATCHES:
        found = text.count(old)
        if found != 1:
            raise PatchError(f"asv-tachyon's bundle holds the {name} text {found} times, not "
                             "once: install the asv-tachyon release of the analysis extra")
        text = text.replace(old, new)
    return text


def adapt_page(page: str) -> str:
    """The UI's index.html as benchmarks.html: classic deferred script, stylesheet without
    crossorigin, the file:// data stand-in first, cebench's bar above the app."""
    if BAR_MARKER in page:
        return page
    page, n_script = re.subn(r'<script type="module" crossorigin src="([^"]+)"></script>',
                             f'<script src="./{FILE_DATA_SCRIPT}"></script>'
                             r'<script defer src="\1"></script>', page)
    page, n_css = re.subn(r'<link rel="stylesheet" crossorigin href=', '<link rel="stylesheet" href=',
                          page)
    if n_script != 1 or n_css != 1 or '<div id="root"></div>' not in page:
        raise PatchError("asv-tachyon's index.html is not the one cebench adapts (one module "
                         "script, one stylesheet, an empty #root)")
    page = page.replace("</head>", _STYLE + "</head>", 1)
    return page.replace('<div id="root"></div>', _BAR + _WAITING, 1)


def write_data_scripts(html_dir: Path) -> int:
    """A ``<name>.json.js`` beside every JSON file of the site; returns how many."""
    count = 0
    for path in html_dir.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        json.loads(text)  # a broken file fails here, not in the browser
        path.with_name(path.name + ".js").write_text(
            f"__cebenchData(document.currentScript.src,{text});\n", encoding="utf-8")
        count += 1
    return count


def publish(results_dir: Path, html_dir: Path, conf_path: Path, workdir: Path) -> tuple[bool, str]:
    """``asv publish`` (needs the git history for commit dates), the UI, the adaptations.
    Returns (ok, one line)."""
    if not (results_dir / "benchmarks.json").exists():
        return False, f"no benchmarks.json in {results_dir}"
    conf = asvconf.write_relocated(conf_path, workdir / "asv.publish.json",
                                   results_dir=results_dir, html_dir=html_dir)
    code, last = subprocesses.run([sys.executable, "-m", "asv", "publish", "--config", str(conf)],
                                  cwd=conf_path.resolve().parent)
    if code != 0 or not (html_dir / "index.json").exists():
        return False, f"asv publish exited {code}: {last}"
    # --no-backup: the stock index (kept as index.legacy.html otherwise) loads CDN scripts.
    code, last = subprocesses.run([sys.executable, "-m", "asv_tachyon", "install", "--no-backup",
                                   str(html_dir.resolve())], cwd=html_dir)
    index = html_dir / "index.html"
    if code != 0:
        index.unlink(missing_ok=True)  # never leave the CDN-loading page
        return False, (f"asv-tachyon install exited {code}: {last} (pip install asv-tachyon; "
                       "the stock asv site needs the internet)")
    try:
        for bundle in (html_dir / "assets").glob("index-*.js"):
            bundle.write_text(patch_bundle(bundle.read_text(encoding="utf-8")), encoding="utf-8")
        (html_dir / PAGE).write_text(adapt_page(index.read_text(encoding="utf-8")),
                                     encoding="utf-8")
    except PatchError as exc:
        return False, str(exc)
    finally:
        index.unlink(missing_ok=True)  # the front page is cebench's
    write_sidecars(html_dir, conf_path.resolve().parent)
    (html_dir / FILE_DATA_SCRIPT).write_text(FILE_DATA_JS, encoding="utf-8")
    files = write_data_scripts(html_dir)
    return True, f"asv publish + asv-tachyon UI, {files} data files readable from disk"


def write_sidecars(html_dir: Path, repo: Path) -> None:
    """The optional files the UI asks for (a 404 each otherwise): commit subjects for chart
    tooltips (from git, when the commits are there), no profiles, no mutes."""
    index = json.loads((html_dir / "index.json").read_text())
    hashes = set((index.get("revision_to_hash") or {}).values())
    subjects = {}
    if hashes:
        proc = subprocess.run(["git", "-C", str(repo), "log", "--all", "--format=%H%x09%s"],
                              check=False, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            commit, _, subject = line.partition("\t")
            if commit in hashes:
                subjects[commit] = subject
    (html_dir / "commits.json").write_text(json.dumps(subjects, indent=1))
    (html_dir / "profiles.json").write_text(json.dumps({"paths": {}}))
    (html_dir / "regressions-ignore.json").write_text("[]")
    # asv's own regression feed judges every series as lower-is-better: not published
    (html_dir / "regressions.json").write_text(json.dumps({"regressions": []}))
    for stale in ("regressions.xml",):
        (html_dir / stale).unlink(missing_ok=True)
    if (html_dir / "swallow.ico").exists():  # browsers ask every page's server for one
        shutil.copy2(html_dir / "swallow.ico", html_dir / "favicon.ico")
