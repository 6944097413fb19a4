"""The compile report: what converted, what stayed in PyTorch and why, how long each stage took."""
from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator


@dataclass
class EngineReport:
    name: str
    nodes: int
    ops: list[str]
    requires_output_allocator: bool = False
    engine_bytes: int | None = None
    validation: dict[str, Any] | None = None
    status: str = "built"  # built | network_only | fallback | dryrun


@dataclass
class FallbackEntry:
    node: str
    op: str
    reason: str
    category: str = ""


@dataclass
class KeptNode:
    """A node computing in float32 under a reduced ``precision`` (``keep_fp32``), and why."""

    node: str
    op: str
    module: str
    reason: str
    #: its relative error at the reduced precision when the precision search chose it
    rel_err: float | None = None
    tolerance: float | None = None


@dataclass
class CompileReport:
    model: str = ""
    backend: str | None = None
    target_backend: str | None = None
    built: bool = False
    engines: list[EngineReport] = field(default_factory=list)
    fallback: list[FallbackEntry] = field(default_factory=list)
    decompositions: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)
    #: constant folding: constants made, nodes replaced, and what was left unfolded and why
    folding: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    packs: list[str] = field(default_factory=list)
    precision: str = "float32"
    compute_nodes: int = 0
    #: engine cache outcome: "" (no cache), "hit", "refit" (a hit whose refittable engines get this
    #: model's weights), "miss", "corrupt" (entry rebuilt) or "not_stored"
    cache: str = ""
    #: nodes kept in float32 under a reduced precision, in graph order, each with why
    kept_fp32: list[KeptNode] = field(default_factory=list)
    #: under a reduced precision: each node computing with floating values -> its dtype
    node_precision: dict[str, str] = field(default_factory=dict)
    #: what the user should know that did not stop the compile (e.g. the engine cache could not be written)
    warnings: list[str] = field(default_factory=list)
    #: subgraph reports of torch.compile (one per graph break)
    subgraphs: list["CompileReport"] = field(default_factory=list)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent in the block to ``timings_s[stage]`` (stages may be entered many times)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[stage] = self.timings_s.get(stage, 0.0) + time.perf_counter() - t

    # -- derived ----------------------------------------------------------------
    @property
    def converted_nodes(self) -> int:
        return sum(e.nodes for e in self.engines if e.status != "fallback")

    @property
    def coverage(self) -> float:
        return self.converted_nodes / self.compute_nodes if self.compute_nodes else 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["converted_nodes"] = self.converted_nodes
        d["coverage"] = round(self.coverage, 4)
        return d

    def to_json(self, path: str | None = None) -> str:
        """The report as strict JSON (an infinite or NaN error, e.g. an overflow's, is the string "inf")."""
        text = json.dumps(_finite(self.to_dict()), indent=2, default=str, allow_nan=False)
        if path:
            from ._io import atomic_write_text

            atomic_write_text(path, text + "\n", "report")
        return text

    # -- human-readable ---------------------------------------------------------
    def by_reason(self) -> dict[str, Counter]:
        out: dict[str, Counter] = defaultdict(Counter)
        for f in self.fallback:
            out[f.category or f.reason][f.op] += 1
        return out

    def render(self, console: Any = None) -> None:
        """Print the report with rich: engines, then fallback grouped by reason and op."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        head = (
            f"[bold]{self.model or 'model'}[/]: {self.converted_nodes}/{self.compute_nodes} compute nodes "
            f"in TensorRT ({self.coverage:.0%}), {len([e for e in self.engines if e.status != 'fallback'])} "
            f"engine(s); backend {self.backend}, target {self.target_backend}, precision {self.precision}"
        )
        console.print(head)
        if self.engines:
            t = Table(title="TensorRT engines")
            for col in ("engine", "status", "nodes", "bytes", "output allocator", "rel_err", "max_abs_err"):
                t.add_column(col, overflow="fold")  # never cut a name short (CI logs are narrow)
            for e in self.engines:
                v = e.validation or {}
                t.add_row(
                    e.name, e.status, str(e.nodes), str(e.engine_bytes or "-"),
                    "yes" if e.requires_output_allocator else "no",
                    f"{v['rel_err']:.2e}" if "rel_err" in v else "-",
                    f"{v['max_abs_err']:.2e}" if "max_abs_err" in v else "-",
                )
            console.print(t)
        self._render_precision(console)
        if self.fallback:
            t = Table(title="Left to PyTorch (by reason, then op)")
            for col in ("reason", "op", "count"):
                t.add_column(col, overflow="fold")
            for reason, ops in sorted(self.by_reason().items(), key=lambda kv: -sum(kv[1].values())):
                for op, count in ops.most_common():
                    t.add_row(reason, op, str(count))
                    reason = ""
            console.print(t)
            hints = sorted({f.reason.split("install ", 1)[1].split(",")[0] for f in self.fallback if "install " in f.reason})
            for h in hints:
                console.print(f"hint: install {h}")
        else:
            console.print("Nothing left to PyTorch.")
        if self.cache:
            console.print("engine cache: " + _CACHE_OUTCOMES.get(self.cache, self.cache))
        for w in self.warnings:
            console.print(f"warning: {w}", markup=False)
        if self.timings_s:
            console.print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.timings_s.items()))

    def _render_precision(self, console: Any) -> None:
        """Which nodes run in which precision: counts, then each node kept in float32 and why."""
        from rich.table import Table

        if not self.node_precision:
            return
        counts = Counter(self.node_precision.values())
        console.print("precision: " + ", ".join(f"{n} node(s) in {dt}" for dt, n in counts.most_common()))
        if self.kept_fp32:
            t = Table(title=f"Kept in float32 (the rest computes in {self.precision})")
            for col in ("node", "op", "module", "why", "rel_err", "tolerance"):
                t.add_column(col)
            for k in self.kept_fp32:
                t.add_row(k.node, k.op, k.module or "-", k.reason,
                          "-" if k.rel_err is None else f"{k.rel_err:.2e}",
                          "-" if k.tolerance is None else f"{k.tolerance:.2e}")
            console.print(t)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as its string ("inf", "-inf", "nan"): JSON has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


_CACHE_OUTCOMES = {
    "hit": "hit (loaded: lowering, partitioning, conversion and the build were skipped)",
    "miss": "miss (compiled, then stored)",
    "refit": "hit with other weights (refittable engines: refitted with this model's weights, not rebuilt)",
    "corrupt": "the entry was damaged: deleted, compiled again and stored",
    "not_stored": "miss (compiled, but not stored: see the warning)",
}
