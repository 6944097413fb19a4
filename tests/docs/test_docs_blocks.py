"""Every code block in docs/*.md runs (or, for installs, is checked) as docs_mdblocks.py describes."""
from __future__ import annotations

import pytest


def test_doc_block(doc_block, page_runs):
    result = page_runs.result(doc_block)
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.status == "passed", result.message


def test_pages_parse(md):
    """No fence the tests could miss: indented, unclosed or of an unknown language."""
    problems: list[str] = []
    for page in md.pages():
        md.parse(page, problems)
    assert not problems, "\n".join(problems)


def test_pack_author_pages_skip_nothing(md):
    skipped = [b.id for b in md.all_blocks() if b.page in md.PACK_AUTHOR_PAGES and b.skip_reason]
    assert not skipped, f"pack-author pages must run every block: {skipped}"


def test_pack_page_installs_the_folder_it_builds(page_runs):
    """The pack built from writing-a-pack.md's blocks is the one installed and discovered."""
    import subprocess

    run = page_runs.page("writing-a-pack.md")
    code = ("import trtforge_example_pack, importlib.metadata as m; print(trtforge_example_pack.__file__); "
            "print([e.dist.name for e in m.entry_points(group='trtforge.packs') if e.name == 'example'])")
    proc = subprocess.run([run.python, "-c", code], env=run.env, capture_output=True, text=True, cwd=run.tmp)
    assert proc.returncode == 0, proc.stderr
    where, dists = proc.stdout.splitlines()
    assert where.startswith(str(run.tmp / "work")), where
    assert dists == "['trtforge-example-pack']"


def test_shell_commands_are_classified(md):
    kinds = [c.kind for c in md.commands(
        "trtforge packs --json\npip install -e . && pytest -q tests\n"
        "pip install \".[rtx]\" torchvision\n. .venv/bin/activate\nrm -rf build"
    )]
    assert kinds == ["run", "local-install", "run", "install", "setup", "unknown"]


def test_install_check_catches_what_would_not_install(md):
    import docs_pagerun

    cmd = md.classify('pip install ".[no-such-extra]" ./packs/no-such-pack no-such-distribution-xyz torchvision')
    problems = docs_pagerun.check_install(cmd, "test")
    assert len(problems) == 3, problems
    assert docs_pagerun.check_install(md.classify('pip install ".[rtx,test]" ./packs/vision'), "test") == []


def test_a_failing_block_fails_and_stops_its_page(tmp_path):
    import docs_pagerun

    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 41\n```\n\n"
        "```python\n# docs-test: skip (needs a GPU)\nraise SystemExit\n```\n\n"
        "```python\nassert x == 42, 'wrong answer'\n```\n\n"
        "```bash\ntrtforge --help\n```\n"
    )
    shared: dict = {}
    try:
        run = docs_pagerun.PageRun("page.md", tmp_path / "run", shared, docs=tmp_path)
        results = run.run()
    finally:
        docs_pagerun.cleanup(shared)
    assert [r.status for r in results.values()] == ["passed", "skipped", "failed", "failed"]
    assert "needs a GPU" in results[5].message
    assert "wrong answer" in results[10].message and f"{page}\", line 11" in results[10].message
    assert "not run" in results[14].message
