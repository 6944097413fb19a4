"""The code blocks of docs/*.md and how the docs tests treat each one.

Rules (docs/index.md, "How these pages are tested", says the same for authors):

* ``python`` blocks run, in page order, in one Python session per page (a fresh
  namespace, working directory a fresh temporary folder), like a REPL.
* A block whose first line is ``# file: PATH`` is a file: it is written to PATH
  (relative to the working directory) instead of being run. A page with file
  blocks is a *project page*: it starts in an empty folder with its own virtual
  environment, and its Python session restarts after every ``pip install``.
* ``bash`` blocks hold commands. ``trtforge``, ``pytest``, ``mkdir``, ``cd`` and,
  on project pages, ``pip install``/``pip wheel`` of local folders run. Installs
  from an index (and installs anywhere else) and virtual-environment set-up are
  checked, not run: every requirement must be a distribution of this repository
  (with extras it defines), an existing local folder, or a distribution installed
  in the test environment. A block mixes neither kind.
* ``toml`` and ``json`` blocks must parse; ``text`` blocks are sample output, not
  checked. ``sh``/``shell`` count as ``bash``, ``py`` as ``python``; other
  languages, indented and unclosed fences fail ``test_pages_parse``.
* A block whose first line is ``# docs-test: skip (REASON)`` is reported as
  skipped with REASON. Pack-author pages may not use it.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: languages the tests know; aliases map to them
LANGS = {"python", "bash", "toml", "json", "text"}
ALIASES = {"py": "python", "sh": "bash", "shell": "bash", "console": "text", "": "text"}
#: pages a pack author follows top to bottom: no skipped blocks allowed
PACK_AUTHOR_PAGES = {"writing-a-pack.md", "hooks.md"}

_FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)\s*$")
_FILE = re.compile(r"^#\s*file:\s*(\S+)\s*$")
_SKIP = re.compile(r"^#\s*docs-test:\s*skip\s*\((.+)\)\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang}"

    @property
    def first_line(self) -> str:
        return self.code.split("\n", 1)[0].strip()

    @property
    def file(self) -> str | None:
        m = _FILE.match(self.first_line)
        return m.group(1) if m else None

    @property
    def skip_reason(self) -> str | None:
        m = _SKIP.match(self.first_line)
        return m.group(1).strip() if m else None


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def parse(path: Path, problems: list[str] | None = None) -> list[Block]:
    """Every fenced block of ``path``; fences the tests could miss are added to ``problems``."""
    blocks: list[Block] = []
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, lang = m.groups()
        lang = ALIASES.get(lang, lang)
        if indent and problems is not None:
            problems.append(f"{path.name}:{i + 1}: indented code fence; put code blocks at column 0")
        if lang not in LANGS and problems is not None:
            problems.append(f"{path.name}:{i + 1}: code block language {lang!r}; use one of {sorted(LANGS)}")
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i])
            i += 1
        if i == len(lines) and problems is not None:
            problems.append(f"{path.name}:{start + 1}: unclosed code fence")
        blocks.append(Block(path.name, start + 1, lang, "\n".join(body) + "\n"))
        i += 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for p in pages() for b in parse(p)]


def is_project_page(blocks: list[Block]) -> bool:
    return any(b.file for b in blocks)


# -- shell commands -----------------------------------------------------------------------

@dataclass
class Command:
    text: str
    kind: str  # run | local-install | install | setup | unknown
    argv: list[str] = field(default_factory=list)


def commands(code: str) -> list[Command]:
    """The commands of a bash block: comments dropped, ``\\`` continuations joined, split on ``&&``."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for line in joined.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            part = part.strip()
            if part:
                out.append(classify(part))
    return out


def _requirements(argv: list[str]) -> list[str]:
    """Requirement arguments of ``pip install/wheel ...`` (options and their values dropped)."""
    takes_value = {"-w", "--wheel-dir", "-r", "--requirement", "-c", "--constraint", "-t", "--target",
                   "--python", "-i", "--index-url", "--extra-index-url"}
    reqs, skip = [], False
    for a in argv[2:]:
        if skip:
            skip = False
            continue
        if a in takes_value:
            skip = True
            continue
        if a.startswith("-"):
            continue
        reqs.append(a)
    return reqs


def is_local(req: str) -> bool:
    return req.startswith((".", "/")) or "/" in req.split("[")[0]


def classify(text: str) -> Command:
    try:
        argv = shlex.split(text)
    except ValueError:
        return Command(text, "unknown")
    if not argv:
        return Command(text, "unknown")
    head = argv[0]
    if head in {"trtforge", "pytest", "mkdir", "cd"} or argv[:3] == ["python", "-m", "pytest"]:
        return Command(text, "run", argv)
    if head == "pip" and len(argv) > 1 and argv[1] in {"install", "wheel"}:
        reqs = _requirements(argv)
        kind = "local-install" if reqs and all(is_local(r) for r in reqs) else "install"
        return Command(text, kind, argv)
    if argv[:3] in (["python3", "-m", "venv"], ["python", "-m", "venv"]) or (
        head in {".", "source"} and len(argv) == 2 and argv[1].endswith("/bin/activate")
    ):
        return Command(text, "setup", argv)
    return Command(text, "unknown", argv)


# -- markdown structure for the reference tests -----------------------------------------------

def sections(text: str, level: int = 2) -> dict[str, str]:
    """``{heading text: body}`` for headings of exactly ``level`` ``#``s."""
    out: dict[str, str] = {}
    head = None
    body: list[str] = []
    in_code = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and re.match(rf"^#{{{level}}}\s", line):
            if head is not None:
                out[head] = "\n".join(body)
            head, body = line[level + 1:].strip(), []
        elif not in_code and re.match(rf"^#{{1,{level - 1}}}\s", line) and head is not None:
            out[head] = "\n".join(body)
            head, body = None, []
        elif head is not None:
            body.append(line)
    if head is not None:
        out[head] = "\n".join(body)
    return out


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row in ``text`` (header and separator rows dropped)."""
    rows = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        if re.match(r"^\|[\s:|-]+\|$", line):
            continue
        if i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1]):
            continue  # header row
        rows.append([c.strip() for c in _split_row(line)])
    return rows


def _split_row(line: str) -> list[str]:
    """Split a table row on ``|`` outside backticks (code may hold ``|``)."""
    cells, cur, in_code = [], [], False
    for ch in line.strip()[1:-1]:
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur))
    return cells


def unquote(cell: str) -> str:
    """``x`` -> x (one backticked span)."""
    cell = cell.strip()
    return cell[1:-1] if cell.startswith("`") and cell.endswith("`") and cell.count("`") == 2 else cell
