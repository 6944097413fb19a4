"""What the runtime needs to know about one engine, kept next to its serialized bytes."""
from __future__ import annotations

import ast
import hashlib
import json
import operator
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.utils.weak import WeakIdKeyDictionary

#: Version of the saved-program format. Bump on any incompatible change to
#: EngineMetadata or to how engines are stored; loaders refuse other versions.
ABI_VERSION = 1

__all__ = [
    "ABI_VERSION",
    "EngineMetadata",
    "TensorSpec",
    "check_abi_version",
    "engine_digest",
    "engine_digests",
    "engine_sha256",
    "eval_shape_expr",
    "symbolic_shape_exprs",
    "torch_dtype",
]


@dataclass
class TensorSpec:
    """One engine input or output. Shapes use -1 for dynamic dimensions."""

    name: str
    dtype: str  # torch dtype name without "torch.", e.g. "float32"
    shape: list[int]
    #: [min, opt, max] shapes for inputs of engines with dynamic dimensions
    profile: list[list[int]] | None = None
    #: outputs only: one expression per dimension giving its size from the input
    #: sizes, e.g. ``["i0_0", "3", "FloorDiv(i1_2, 2)"]`` (``iK_D`` is dimension D
    #: of input K); None for a dimension, or for the whole list, means "unknown
    #: until run" (a data-dependent size). Used to trace engines with dynamic
    #: shapes in torch.export; see :func:`symbolic_shape_exprs`.
    shape_expr: list[str | None] | None = None
    #: inputs of engines with several optimization profiles: per profile [min, opt, max]
    #: (``profile`` is then the envelope of them all)
    profiles: list[list[list[int]]] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TensorSpec":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EngineMetadata:
    """Metadata record of one engine; ``abi_version`` is always the first field."""

    abi_version: int = ABI_VERSION
    name: str = "engine"
    backend: str = "tensorrt"
    backend_version: str = ""
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    requires_output_allocator: bool = False
    #: "none" | "ampere_plus" | "same_compute_capability" (TensorRT HardwareCompatibilityLevel)
    hardware_compatibility: str = "none"
    weight_streaming: bool = False
    device: int = 0
    #: compute capability the engine was built for, "" if unknown (AOT on CPU)
    compute_capability: str = ""
    #: name of the GPU the engine was built on, "" when built without one
    device_name: str = ""
    #: TensorRT builder flags the engine was built with (read back from the builder config)
    builder_flags: list[str] = field(default_factory=list)
    #: built with REFIT / REFIT_IDENTICAL: weights can be replaced without a rebuild
    refittable: bool = False
    #: the serialized engine holds no refittable weights (STRIP_PLAN, or saved strip_weights=True):
    #: they must be refitted before it runs
    weights_stripped: bool = False
    version_compatible: bool = False
    #: builder's max_aux_streams, None for TensorRT's default
    max_aux_streams: int | None = None
    #: TensorRT-RTX runtime cache file handed to the execution context ("" for none)
    runtime_cache_path: str = ""
    #: refittable engines: engine weight name -> how to compute it from the source parameters
    #: (see trtforge.refit.recipes); recorded at compile time
    refit_map: dict[str, Any] = field(default_factory=dict)
    #: source parameters that cannot be refitted (baked into something else) -> why
    unrefittable: dict[str, str] = field(default_factory=dict)
    #: nodes of the original graph this engine replaces (for reports and inspect)
    source_nodes: list[str] = field(default_factory=list)
    engine_bytes: int = 0
    #: sha256 hex digest of the serialized engine (filled by TRTEngineModule)
    sha256: str = ""
    #: trtforge version that produced the engine
    trtforge_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EngineMetadata":
        data = dict(data)
        data["inputs"] = [t if isinstance(t, TensorSpec) else TensorSpec.from_dict(t) for t in data.get("inputs", [])]
        data["outputs"] = [t if isinstance(t, TensorSpec) else TensorSpec.from_dict(t) for t in data.get("outputs", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> "EngineMetadata":
        return cls.from_dict(json.loads(text))

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    @property
    def num_profiles(self) -> int:
        return max([len(t.profiles) for t in self.inputs if t.profiles] or [1])

    def select_profile(self, shapes: Sequence[Sequence[int]]) -> int | None:
        """Index of the first optimization profile whose ranges hold every input shape, else None."""
        for k in range(self.num_profiles):
            fits = True
            for spec, shape in zip(self.inputs, shapes):
                prof = spec.profiles[min(k, len(spec.profiles) - 1)] if spec.profiles else spec.profile
                if prof and not all(a <= n <= b for n, a, b in zip(shape, prof[0], prof[2])):
                    fits = False
                    break
            if fits:
                return k
        return None


def check_abi_version(data: Mapping[str, Any], what: str) -> None:
    """Raise :class:`ABIVersionError` unless ``data["abi_version"]`` is this runtime's."""
    from ..errors import ABIVersionError

    found = data.get("abi_version") if isinstance(data, Mapping) else None
    if found != ABI_VERSION:
        raise ABIVersionError(
            f"{what} was saved with trtforge runtime ABI version {found!r}, but this trtforge "
            f"reads ABI version {ABI_VERSION} only; load it with the trtforge release that saved it, "
            "or recompile and save it again with this one"
        )


def engine_sha256(data: bytes | memoryview | torch.Tensor) -> str:
    """sha256 hex digest of serialized engine bytes (or of a uint8 tensor holding them)."""
    if isinstance(data, torch.Tensor):
        data = _tensor_bytes_view(data)
    return hashlib.sha256(data).hexdigest()


#: engine tensor -> (data pointer, version counter, sha256): each engine's bytes hashed once
#: (keyed by identity: tensors compare by value)
_digests: WeakIdKeyDictionary = WeakIdKeyDictionary()


def engine_digest(t: torch.Tensor) -> str:
    """The sha256 of an engine tensor's bytes, computed once per tensor: asked again for the same
    tensor (unchanged: same storage, no in-place write since) it is not read again."""
    key = (t.data_ptr(), t._version)
    memo = _digests
    hit = memo.get(t)
    if hit is not None and hit[:2] == key:
        return hit[2]
    digest = engine_sha256(t)
    memo[t] = (*key, digest)
    return digest


def engine_digests(tensors: Sequence[torch.Tensor]) -> list[str]:
    """:func:`engine_digest` of several engines, hashed in parallel (hashlib releases the GIL):
    loading a program with many engines verifies them on every core."""
    memo = _digests
    todo = [t for t in tensors if memo.get(t, (None, None))[:2] != (t.data_ptr(), t._version)]
    workers = min(len(todo), os.cpu_count() or 1)
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(engine_sha256, todo))
        for t, digest in zip(todo, done):  # the dictionary is written from this thread only
            memo[t] = (t.data_ptr(), t._version, digest)
    return [engine_digest(t) for t in tensors]


def _tensor_bytes_view(t: torch.Tensor) -> memoryview:
    """A zero-copy view of a CPU uint8 tensor's bytes (copies to host first if needed)."""
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous().view(torch.uint8).reshape(-1)
    return memoryview(t.numpy()).cast("B")


_DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in (
        "float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool",
        "float8_e4m3fn", "float8_e5m2",
    )
    if hasattr(torch, name)
}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype for a metadata dtype name (``"float32"``, ``"torch.float16"``...)."""
    key = str(name).replace("torch.", "")
    try:
        return _DTYPES[key]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r} in engine metadata; known: {sorted(_DTYPES)}") from None


# --- output shape expressions -------------------------------------------------------------

def _floordiv(a: Any, b: Any) -> Any:
    return a // b


def _ceildiv(a: Any, b: Any) -> Any:
    return -((-a) // b)


def _max(*args: Any) -> Any:
    out = args[0]
    for a in args[1:]:
        out = torch.sym_max(out, a)
    return out


def _min(*args: Any) -> Any:
    out = args[0]
    for a in args[1:]:
        out = torch.sym_min(out, a)
    return out


_FUNCS: dict[str, Callable[..., Any]] = {
    "FloorDiv": _floordiv, "CleanDiv": _floordiv, "IntTrueDiv": _floordiv,
    "CeilDiv": _ceildiv, "Mod": operator.mod, "PythonMod": operator.mod,
    "Max": _max, "Min": _min,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}


@lru_cache(maxsize=1024)
def _parse_expr(text: str) -> ast.Expression:
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Call,
                               ast.USub, ast.UAdd, ast.Pow, *_BINOPS)) or (
            isinstance(node, ast.Constant) and type(node.value) is int
        )
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            ok = False
        if not ok:
            raise ValueError(f"shape expression {text!r} uses {type(node).__name__}, which is not allowed")
    return tree


def eval_shape_expr(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate one output-dimension expression over input sizes (ints or SymInts).

    Only integer arithmetic (``+ - * // % **``), the names in ``env`` and the
    functions FloorDiv/CeilDiv/Mod/Max/Min are allowed: metadata comes from files,
    so nothing is ever ``eval``-ed.
    """
    tree = _parse_expr(text)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            try:
                return env[node.id]
            except KeyError:
                raise ValueError(f"shape expression {text!r} names unknown size {node.id!r}") from None
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow):
                if not isinstance(b, int) or b < 0 or b > 8:
                    raise ValueError(f"shape expression {text!r}: only small constant integer powers")
                out = 1
                for _ in range(b):
                    out = out * a
                return out
            return _BINOPS[type(node.op)](a, b)
        if isinstance(node, ast.Call):
            return _FUNCS[node.func.id](*(ev(a) for a in node.args))  # type: ignore[union-attr]
        raise ValueError(f"bad shape expression {text!r}")  # pragma: no cover - _parse_expr rejects it

    return ev(tree)


def symbolic_shape_exprs(
    input_shapes: Sequence[Sequence[Any]], output_shapes: Sequence[Sequence[Any]]
) -> list[list[str | None]]:
    """Output-shape expressions for :attr:`TensorSpec.shape_expr`, from traced shapes.

    ``input_shapes``/``output_shapes`` are the engine's I/O shapes as seen while
    tracing (ints and ``torch.SymInt`` s, e.g. the ``meta["val"]`` shapes of the
    partition's placeholders and outputs). A dimension whose size is not a
    function of input sizes (data-dependent) gets None.
    """
    import sympy

    mapping: dict[Any, Any] = {}
    for k, shape in enumerate(input_shapes):
        for d, s in enumerate(shape):
            if isinstance(s, torch.SymInt):
                expr = s.node.expr
                if isinstance(expr, sympy.Symbol) and expr not in mapping:
                    mapping[expr] = sympy.Symbol(f"i{k}_{d}", integer=True)
    out: list[list[str | None]] = []
    for shape in output_shapes:
        exprs: list[str | None] = []
        for s in shape:
            if isinstance(s, torch.SymInt):
                expr = s.node.expr
                if expr.free_symbols <= set(mapping):
                    text = str(expr.xreplace(mapping))
                    try:
                        _parse_expr(text)
                    except (ValueError, SyntaxError):
                        text = None  # an expression the evaluator does not know: size at run time
                    exprs.append(text)
                else:
                    exprs.append(None)
            else:
                exprs.append(str(int(s)))
        out.append(exprs)
    return out
