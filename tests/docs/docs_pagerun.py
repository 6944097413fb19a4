"""Running one docs page top to bottom, as a reader would (see docs_mdblocks.py for the rules)."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import docs_mdblocks as mdblocks

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

WORKER = Path(__file__).with_name("docs_worker.py")
BLOCK_TIMEOUT_S = 600
_CWD_MARK = "__DOCS_TEST_CWD__="


@dataclass
class Result:
    status: str  # passed | skipped | failed
    message: str = ""
    seconds: float = 0.0
    output: str = ""  # what the block printed (for debugging the docs)


class Worker:
    """A docs_worker.py process: one Python session."""

    def __init__(self, python: str, env: dict[str, str], log: Path) -> None:
        read, write = os.pipe()
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [python, str(WORKER), str(write)], stdin=subprocess.PIPE, stdout=self.log, stderr=self.log,
            pass_fds=(write,), env=env, text=True,
        )
        os.close(write)
        self.answers = os.fdopen(read)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"ok": False, "error": f"the Python session died (exit code {self.proc.poll()})"}
        ready, _, _ = select.select([self.answers], [], [], BLOCK_TIMEOUT_S)
        line = self.answers.readline() if ready else ""
        if not line:
            self.close()
            why = "timed out" if not ready else f"died (exit code {self.proc.poll()})"
            return {"ok": False, "error": f"the Python session {why}; see {self.log.name}"}
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.answers.close()
        self.log.close()


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["TRTFORGE_CACHE_DIR"] = str(tmp.parent / "trtforge-cache")  # `trtforge packs` listing cache, per session
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def make_venv(where: Path) -> Path:
    """A virtual environment that sees this one's packages (trtforge, torch, ...) and installs into itself.

    pip runs offline and without build isolation: everything a pack's build needs
    (setuptools) is already installed here.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    # Processed after this environment's own .pth files (name order): its editable installs go
    # first, so a folder installed here wins over a copy of the same package installed there.
    Path(site, "zz_docs_test_base_env.pth").write_text(
        "import sys, site; sys.meta_path.sort(key=lambda f: not getattr(f, '__module__', '').startswith('__editable__')); "
        f"site.addsitedir({here!r})\n"
    )
    for tool, module in (("pip", "pip"), ("pytest", "pytest"), ("trtforge", "trtforge.cli.main")):
        shim = where / "bin" / tool
        shim.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n')
        shim.chmod(0o755)
    return python


class PageRun:
    """Runs the blocks of one page in order and keeps each block's result."""

    def __init__(self, page: str, tmp: Path, shared: dict[str, Any], docs: Path = mdblocks.DOCS) -> None:
        self.page = page
        self.docs = docs
        self.blocks = mdblocks.parse(docs / page)
        self.project = mdblocks.is_project_page(self.blocks)
        self.tmp = tmp
        self.cwd = tmp / "work"
        self.cwd.mkdir(parents=True)
        self.env = base_env(tmp)
        self.python = sys.executable
        if self.project:
            self.python = str(make_venv(tmp / "venv"))
            self.env["PATH"] = str(tmp / "venv" / "bin") + os.pathsep + self.env["PATH"]
            self.env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
            self.env.pop("VIRTUAL_ENV", None)
        self.shared = shared
        self.worker: Worker | None = None
        self.session_cwd: Path | None = None
        self.results: dict[int, Result] = {}

    # -- the Python session ---------------------------------------------------------------
    def _session(self) -> Worker:
        if self.worker is None or not self.worker.alive():
            if not self.project and self.shared.get("worker") and self.shared["worker"].alive():
                self.worker = self.shared["worker"]
            else:
                self.worker = Worker(self.python, self.env, self.tmp / "python-session.log")
                if not self.project:
                    self.shared["worker"] = self.worker
            self.worker.ask({"op": "reset", "cwd": str(self.cwd)})
            self.session_cwd = self.cwd
        elif self.session_cwd != self.cwd:
            self.worker.ask({"op": "chdir", "cwd": str(self.cwd)})
            self.session_cwd = self.cwd
        return self.worker

    def _restart_session(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    # -- blocks -------------------------------------------------------------------------
    def run(self) -> dict[int, Result]:
        failed_at = None
        try:
            for b in self.blocks:
                if b.lang == "text":
                    continue
                if failed_at is not None:
                    self.results[b.line] = Result("failed", f"not run: the block at line {failed_at} failed")
                    continue
                t0 = time.perf_counter()
                res = self._run_block(b)
                res.seconds = time.perf_counter() - t0
                self.results[b.line] = res
                if res.status == "failed":
                    failed_at = b.line
        finally:
            if self.project:
                self._restart_session()
        return self.results

    def _run_block(self, b: mdblocks.Block) -> Result:
        if b.skip_reason:
            return Result("skipped", f"{b.id}: {b.skip_reason}")
        if b.file:
            if not self.project:  # pragma: no cover - is_project_page makes this impossible
                return Result("failed", "file block outside a project page")
            target = self.cwd / b.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(b.code)
            return Result("passed")
        if b.lang == "toml":
            try:
                tomllib.loads(b.code)
            except tomllib.TOMLDecodeError as exc:
                return Result("failed", f"{b.id}: not valid TOML: {exc}")
            return Result("passed")
        if b.lang == "json":
            try:
                json.loads(b.code)
            except ValueError as exc:
                return Result("failed", f"{b.id}: not valid JSON: {exc}")
            return Result("passed")
        if b.lang not in mdblocks.LANGS:
            return Result("failed", f"{b.id}: unknown code block language {b.lang!r}")
        if b.lang == "python":
            answer = self._session().ask({
                "op": "exec", "code": b.code, "filename": str(self.docs / b.page), "line": b.line,
            })
            if answer["ok"]:
                return Result("passed", output=answer.get("output", ""))
            return Result("failed", f"{b.id} raised:\n{answer['error']}\n--- output ---\n{answer.get('output', '')}")
        return self._run_bash(b)

    def _run_bash(self, b: mdblocks.Block) -> Result:
        cmds = mdblocks.commands(b.code)
        if not cmds:
            return Result("failed", f"{b.id}: a bash block with no command")
        unknown = [c.text for c in cmds if c.kind == "unknown"]
        if unknown:
            return Result("failed", f"{b.id}: the docs tests do not know how to run or check {unknown}; "
                                    "see tests/docs/docs_mdblocks.py")
        runnable = {"run", "local-install"} if self.project else {"run"}
        kinds = {c.kind in runnable for c in cmds}
        if kinds == {False}:
            problems = [p for c in cmds for p in check_install(c, self.page)]
            return Result("failed", f"{b.id}: " + "; ".join(problems)) if problems else Result("passed")
        if kinds != {True}:
            return Result("failed", f"{b.id}: mixes commands that run with commands that are only checked "
                                    f"({[c.text for c in cmds]}); split the block")
        script = b.code + f'\necho "{_CWD_MARK}$PWD"\n'
        try:
            proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.cwd, env=self.env,
                                  capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Result("failed", f"{b.id}: timed out after {BLOCK_TIMEOUT_S}s")
        if any(c.argv[:2] == ["pip", "install"] for c in cmds):
            self._restart_session()  # new distributions show up in a new interpreter
        if proc.returncode != 0:
            return Result("failed", f"{b.id}: exit code {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
                                    f"\n--- stderr ---\n{proc.stderr[-6000:]}")
        for line in proc.stdout.splitlines():
            if line.startswith(_CWD_MARK):
                self.cwd = Path(line[len(_CWD_MARK):])
        return Result("passed", output=proc.stdout.replace(_CWD_MARK, "cwd: "))


# -- checked, not run: installs ---------------------------------------------------------------

def repo_distributions() -> dict[str, tuple[Path, set[str]]]:
    """``{normalized name: (folder, extras)}`` of every distribution defined in this repository."""
    out = {}
    for pp in [mdblocks.REPO / "pyproject.toml", *mdblocks.REPO.glob("packs/*/pyproject.toml"),
               *mdblocks.REPO.glob("docs/examples/*/pyproject.toml")]:
        project = tomllib.loads(pp.read_text()).get("project", {})
        extras = set(project.get("optional-dependencies", {}))
        out[_norm(project["name"])] = (pp.parent, extras)
    return out


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def check_install(cmd: mdblocks.Command, page: str) -> list[str]:
    """Why ``cmd`` (an install or set-up command shown, not run) would not work, if it would not."""
    if cmd.kind == "setup":
        return []
    problems = []
    dists = repo_distributions()
    for req in mdblocks._requirements(cmd.argv):
        name, _, rest = req.partition("[")
        extras = {e.strip() for e in rest.rstrip("]").split(",") if e.strip()}
        if mdblocks.is_local(req):
            folder = (mdblocks.REPO / name).resolve()  # local paths are relative to the repository root
            if not (folder / "pyproject.toml").exists():
                problems.append(f"{req}: no pyproject.toml in {folder}")
                continue
            defined = tomllib.loads((folder / "pyproject.toml").read_text()).get("project", {})
            missing = extras - set(defined.get("optional-dependencies", {}))
        elif _norm(name) in dists:
            missing = extras - dists[_norm(name)][1]
        else:
            base = name.split("=")[0].split("<")[0].split(">")[0].strip()
            try:
                metadata.distribution(base)
            except metadata.PackageNotFoundError:
                problems.append(f"{req}: not a distribution of this repository nor installed here")
            missing = set()
        if missing:
            problems.append(f"{req}: extras {sorted(missing)} are not defined")
    return problems


def cleanup(shared: dict[str, Any]) -> None:
    w = shared.pop("worker", None)
    if w is not None:
        w.close()


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
