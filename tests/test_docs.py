"""The documentation: every Python block of the guides runs, and the site builds strictly.

- ``test_snippets[page]``: the fenced ```` ```python ```` blocks of ``docs/<page>.md`` run in
  order, in one namespace per page (all pages in one subprocess, so TensorFlow is imported
  once; a page cannot see another page's names). A block that must not run carries the visible marker
  ``<!-- docs-test: skip -->`` on the line before its fence; the test counts them.
- ``test_mkdocs_build_strict``: ``mkdocs build --strict`` into a temporary folder (warnings,
  broken links and unresolved cross-references are errors).
- ``test_every_public_name_is_in_the_api_reference``: the API pages' generator covers every
  public name of ``gentf``.
"""
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP = "<!-- docs-test: skip -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.M | re.S)


def python_blocks(path):
    """``[(line, code, skipped)]`` for the ```python blocks of a Markdown file, in order."""
    text = path.read_text()
    blocks = []
    for m in FENCE.finditer(text):
        if m.group("lang") != "python" or m.group("body").lstrip().startswith("--8<--"):
            continue   # other languages, and files included whole (run by scripts/docs_examples.py)
        before = text[:m.start()].rstrip().splitlines()
        skipped = bool(before) and before[-1].strip() == SKIP
        code = textwrap.dedent(m.group("body"))
        blocks.append((text.count("\n", 0, m.start()) + 2, code, skipped))
    return blocks


def guide_pages():
    return sorted(p for p in DOCS.rglob("*.md") if "generated" not in p.parts and python_blocks(p))


RUNNER = r"""
import json, os, sys, time, traceback
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pages = json.load(open(sys.argv[1]))
results = {}
for page, blocks in pages.items():
    ns = {"__name__": "__docs__"}          # one namespace per page
    start, error = time.perf_counter(), None
    for line, code, skipped in blocks:
        if skipped:
            continue
        try:
            exec(compile(code, f"{page}:{line}", "exec"), ns)
        except BaseException:
            error = f"the block at {page}:{line} failed:\n" + traceback.format_exc()
            break
    results[page] = dict(error=error, seconds=time.perf_counter() - start)
json.dump(results, open(sys.argv[2], "w"))
"""


@pytest.fixture(scope="module")
def snippet_results(tmp_path_factory):
    """Run every page's blocks in ONE subprocess (TensorFlow is imported once), each page in a
    fresh namespace, in order; ``{page: {"error": str | None, "seconds": float}}``."""
    import json
    tmp = tmp_path_factory.mktemp("docs")
    pages = {str(p.relative_to(ROOT)): python_blocks(p) for p in guide_pages()}
    (tmp / "blocks.json").write_text(json.dumps(pages))
    (tmp / "run.py").write_text(RUNNER)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(tmp / "run.py"), str(tmp / "blocks.json"), str(tmp / "out.json")],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the snippet runner crashed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("page", guide_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_snippets(page, snippet_results):
    result = snippet_results[str(page.relative_to(ROOT))]
    assert result["error"] is None, result["error"]


def test_skip_markers_are_rare():
    """Blocks excluded from the run are marked visibly, and few."""
    skipped = [(p.name, line) for p in guide_pages() for line, _, s in python_blocks(p) if s]
    assert len(skipped) <= 2, skipped


def test_every_public_name_is_in_the_api_reference():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_hooks
    finally:
        sys.path.pop(0)
    import gentf
    entries = docs_hooks.api_entries()
    documented = {name for area in entries.values() for name, _, _ in area}
    public = {n for n in docs_hooks.public_names(gentf)
              if not isinstance(getattr(gentf, n), type(gentf)) or n == "testing"}
    assert public <= documented, sorted(public - documented)
    pages = {p.stem for p in (DOCS / "api").glob("*.md")}
    assert {a for a, names in entries.items() if names} <= pages


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", NO_MKDOCS_2_WARNING="1")
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    api = (tmp_path / "site" / "api" / "gfi" / "index.html").read_text()
    assert "generate" in api and "log p" in api
