"""Compile settings and input specifications (the user-facing knobs)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from .settings_checks import parse_dtype


@dataclass(frozen=True)
class Input:
    """Shape (static or a min/opt/max range) and dtype of one model input.

    ``Input(shape=(1, 3, 224, 224))`` is static; ``Input(min_shape=(1, 3, 224, 224),
    opt_shape=(8, 3, 224, 224), max_shape=(32, 3, 224, 224))`` makes every
    dimension where the three differ dynamic (a ``torch.export.Dim`` and a
    TensorRT optimization-profile range).
    """

    shape: tuple[int, ...] | None = None
    min_shape: tuple[int, ...] | None = None
    opt_shape: tuple[int, ...] | None = None
    max_shape: tuple[int, ...] | None = None
    dtype: torch.dtype = torch.float32
    name: str | None = None
    #: names for dynamic dimensions, e.g. ``{0: "batch"}``: inputs whose dimensions share a
    #: name share one torch.export ``Dim`` (their sizes are equal at run time)
    dim_names: Mapping[int, str] | None = None
    #: several optimization profiles, each ``{"min": ..., "opt": ..., "max": ...}`` or a
    #: ``(min, opt, max)`` triple (instead of shape / min_shape...); the engine gets one
    #: TensorRT optimization profile per entry and the runtime picks the one the shapes fit
    profiles: Sequence[Any] | None = None
    #: ``(low, high)``: the values an integer input may hold, ``low <= v < high`` (e.g. ``(0, vocab_size)``
    #: for token ids). Validation draws its random inputs from it; the default ``(0, 10)`` suits
    #: small index ranges only. Not allowed on floating inputs.
    value_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        if self.dim_names is not None:
            object.__setattr__(self, "dim_names", dict(self.dim_names))
        ranged = (self.min_shape, self.opt_shape, self.max_shape)
        if self.profiles is not None:
            if self.shape is not None or any(s is not None for s in ranged):
                raise ValueError("Input: give profiles= or shape= / min_shape..., not both")
            profs = tuple(_profile(p, i) for i, p in enumerate(self.profiles))
            if not profs:
                raise ValueError("Input: profiles= is empty; give at least one {min, opt, max}")
            if len({len(p[0]) for p in profs}) != 1:
                raise ValueError(f"Input: the profiles have different ranks: {[p[0] for p in profs]}")
            mins = tuple(min(d) for d in zip(*(p[0] for p in profs)))
            maxs = tuple(max(d) for d in zip(*(p[2] for p in profs)))
            object.__setattr__(self, "min_shape", mins)
            object.__setattr__(self, "opt_shape", profs[0][1])
            object.__setattr__(self, "max_shape", maxs)
            object.__setattr__(self, "shape", profs[0][1])
        elif self.shape is not None:
            if any(s is not None for s in ranged):
                raise ValueError("Input: give either shape= or min_shape/opt_shape/max_shape, not both")
            shape = tuple(int(d) for d in self.shape)
            for attr in ("shape", "min_shape", "opt_shape", "max_shape"):
                object.__setattr__(self, attr, shape)
        elif all(s is not None for s in ranged):
            mn, op, mx = _profile(ranged, None)
            object.__setattr__(self, "min_shape", mn)
            object.__setattr__(self, "opt_shape", op)
            object.__setattr__(self, "max_shape", mx)
            object.__setattr__(self, "shape", op)
        else:
            raise ValueError("Input needs shape=, all three of min_shape=, opt_shape=, max_shape=, or profiles=")
        if self.profiles is None:
            object.__setattr__(self, "profiles", ((self.min_shape, self.opt_shape, self.max_shape),))
        else:
            object.__setattr__(self, "profiles", profs)
        if any(d < 0 for d in self.min_shape):  # type: ignore[union-attr]
            raise ValueError(f"Input: negative dimension in {self.min_shape}")
        for d in self.dim_names or {}:
            if d not in self.dynamic_dims:
                raise ValueError(f"Input: dim_names names dimension {d}, which is not dynamic (min == max)")
        self._check_value_range()

    def _check_value_range(self) -> None:
        if self.value_range is None:
            return
        if self.dtype.is_floating_point or self.dtype == torch.bool:
            raise ValueError(f"Input: value_range is for integer inputs; this one is {self.dtype}")
        try:
            low, high = (int(v) for v in self.value_range)
        except (TypeError, ValueError):
            raise ValueError(f"Input: value_range must be (low, high) integers, got {self.value_range!r}") from None
        if low >= high:
            raise ValueError(f"Input: value_range {(low, high)} is empty: values v satisfy low <= v < high")
        object.__setattr__(self, "value_range", (low, high))

    @classmethod
    def from_tensor(cls, t: torch.Tensor, name: str | None = None) -> "Input":
        return cls(shape=tuple(t.shape), dtype=t.dtype, name=name)

    @property
    def is_dynamic(self) -> bool:
        return self.min_shape != self.max_shape

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, (a, c) in enumerate(zip(self.min_shape, self.max_shape)) if a != c]  # type: ignore[arg-type]

    def example(self, which: str = "opt", *, generator: torch.Generator | None = None,
                profile: int | None = None) -> torch.Tensor:
        """A random tensor of the ``min``/``opt``/``max`` shape (of one profile, if given)."""
        if profile is not None:
            shape = self.profiles[profile][("min", "opt", "max").index(which)]  # type: ignore[index]
        else:
            shape = {"min": self.min_shape, "opt": self.opt_shape, "max": self.max_shape}[which]
        if self.dtype.is_floating_point:
            return torch.randn(shape, generator=generator).to(self.dtype)
        if self.dtype == torch.bool:
            return torch.randint(0, 2, shape, generator=generator).bool()
        low, high = self.value_range or (0, 10)
        return torch.randint(low, high, shape, generator=generator).to(self.dtype)

    def __hash__(self) -> int:
        return hash((self.min_shape, self.opt_shape, self.max_shape, self.dtype, self.name, self.profiles,
                     self.value_range))

    def __str__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        if not self.is_dynamic:
            return "x".join(map(str, self.shape or ())) + f"@{dt}"
        dims = [
            f"{a}:{b}:{c}" if a != c else str(a)
            for a, b, c in zip(self.min_shape, self.opt_shape, self.max_shape)  # type: ignore[arg-type]
        ]
        return "x".join(dims) + f"@{dt}"

    @classmethod
    def parse(cls, text: str) -> "Input":
        """Parse the CLI form: ``1x3x224x224``, ``1:8:32x3x224x224``, ``...@float16``."""
        dims_text, _, dtype = text.partition("@")
        mins, opts, maxs = [], [], []
        for part in dims_text.lower().split("x"):
            bits = part.split(":")
            try:
                if len(bits) == 1:
                    a = b = c = int(bits[0])
                elif len(bits) == 3:
                    a, b, c = (int(x) for x in bits)
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"cannot parse input {text!r}: each dimension is N or MIN:OPT:MAX, separated by 'x' "
                    "(e.g. 1:8:32x3x224x224@float16)"
                ) from None
            mins.append(a), opts.append(b), maxs.append(c)
        kw = {"dtype": dtype} if dtype else {}
        if mins == opts == maxs:
            return cls(shape=tuple(opts), **kw)  # else Input checks min <= opt <= max, as for Input(...)
        return cls(min_shape=tuple(mins), opt_shape=tuple(opts), max_shape=tuple(maxs), **kw)


@dataclass(frozen=True)
class CompileSettings:
    """Everything ``trtforge.compile`` can be told. Frozen: a compile never changes it.

    precision: float32 | float16 | bfloat16. Networks are strongly typed, so the
        compiler casts weights and activations to this type (model inputs and
        outputs keep their dtypes; casts at the boundary are added).
    keep_fp32: with a reduced precision, what still computes in float32: op names
        (``"aten::softmax"``), node names, module paths (``"encoder.norm"``), module classes
        (``torch.nn.LayerNorm``), and/or ``"auto"`` (search for the nodes validation needs).
    min_block_size: smallest number of compute nodes worth a TensorRT engine.
    torch_executed_ops: ops forced to PyTorch (``"aten::relu"`` names or OpOverloads).
    require_full_compilation: raise, listing every node that would stay in PyTorch.
    use_fast_partitioner: contiguous segments (True) or global capability-based merging.
    workspace_size: builder workspace limit in bytes (0: TensorRT's default).
    optimization_level: builder optimization level 0-5 (None: TensorRT's default).
    packs: use only converters from these packs (None: all loaded packs).
    pinned_converters: ``{"aten::relu": "mypack"}`` makes that pack's converter win.
    backend: "tensorrt" | "tensorrt_rtx" | None (the installed one).
    target_backend: whose capability table decides what converts (default: backend).
    build: build engines (False: construct and check networks only).
    validate: run each network with the CPU reference executor and compare with PyTorch.
    fallback_on_error: a converter or build error makes its partition fall back, instead of raising.
    dryrun: only report what would convert; no conversion.
    engine_cache_dir: directory of the engine cache (None: no cache).
    debug: show the compile's log on stderr while it runs: every stage's records (its
        ``trtforge.<stage>`` logger: start, end, time, counts) and TensorRT's messages
        (``trtforge.tensorrt``), through one handler on the ``trtforge`` logger that is removed
        when the compile ends. Without it they go to :mod:`logging`, shown where the application
        sends them (docs/troubleshooting.md, "Logging").
    enable_weight_streaming ... runtime_cache_path: engine features, each a builder flag or
        builder/runtime setting (see ``ENGINE_FEATURES`` and docs/settings.md); a backend or
        machine that cannot honour one refuses it before any work (``trtforge.backend``).
    """

    precision: torch.dtype = torch.float32
    keep_fp32: tuple[str, ...] = ()
    min_block_size: int = 5
    torch_executed_ops: frozenset[Any] = frozenset()
    require_full_compilation: bool = False
    use_fast_partitioner: bool = True
    workspace_size: int = 0
    optimization_level: int | None = None
    packs: frozenset[str] | None = None
    pinned_converters: Mapping[str, str] = field(default_factory=dict)
    backend: str | None = None
    target_backend: str | None = None
    build: bool = True
    validate: bool = False
    validate_rtol: float | None = None
    fallback_on_error: bool = False
    dryrun: bool = False
    engine_cache_dir: str | None = None
    engine_cache_size: int = 2 << 30
    debug: bool = False
    # -- engine features (Torch-TensorRT's names); docs/settings.md "Engine features" --
    enable_weight_streaming: bool = False
    immutable_weights: bool = True
    strip_engine_weights: bool = False
    refit_identical_engine_weights: bool = False
    hardware_compatible: bool = False
    version_compatible: bool = False
    max_aux_streams: int | None = None
    sparse_weights: bool = False
    timing_cache_path: str | None = None
    runtime_cache_path: str | None = None

    def __post_init__(self) -> None:
        from .settings_checks import check_settings

        check_settings(self)
        self._check_features()

    def _check_features(self) -> None:
        """Combinations that mean nothing to TensorRT are refused here, naming both settings."""
        if self.immutable_weights:
            for attr in ("strip_engine_weights", "refit_identical_engine_weights"):
                if getattr(self, attr):
                    raise ValueError(
                        f"{attr}=True needs a refittable engine: also pass immutable_weights=False "
                        "(TensorRT strips or refits only refittable weights)"
                    )
        if self.max_aux_streams is not None and self.max_aux_streams < 0:
            raise ValueError(f"max_aux_streams must be >= 0 or None, got {self.max_aux_streams}")
        for attr in ("timing_cache_path", "runtime_cache_path"):
            val = getattr(self, attr)
            if val is not None:
                object.__setattr__(self, attr, os.fspath(val))

    def requested_features(self) -> dict[str, Any]:
        """The engine features this compile asks for: setting name -> value (defaults left out)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: getattr(self, k) for k in ENGINE_FEATURES if getattr(self, k) != defaults[k]}

    @property
    def refittable(self) -> bool:
        return not self.immutable_weights

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "CompileSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            import difflib

            hints = []
            for u in unknown:
                close = difflib.get_close_matches(u, names, n=1)
                hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise TypeError(f"unknown compile setting(s): {', '.join(hints)}; see trtforge.CompileSettings")
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "CompileSettings":
        return dataclasses.replace(self, **changes)


def _profile(value: Any, index: int | None) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``{"min", "opt", "max"}`` or a triple -> checked ``(min, opt, max)`` shapes."""
    where = "Input" if index is None else f"Input profile {index}"
    if isinstance(value, Mapping):
        try:
            value = (value["min"], value["opt"], value["max"])
        except KeyError as exc:
            raise ValueError(f"{where}: needs keys 'min', 'opt' and 'max', missing {exc}") from None
    try:
        mn, op, mx = (tuple(int(d) for d in s) for s in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected (min, opt, max) shapes, got {value!r}") from None
    if not len(mn) == len(op) == len(mx):
        raise ValueError(f"{where}: min/opt/max shapes have different ranks: {mn}, {op}, {mx}")
    for i, (a, b, c) in enumerate(zip(mn, op, mx)):
        if not a <= b <= c:
            raise ValueError(
                f"{where}: dimension {i} must satisfy min <= opt <= max, got {a} <= {b} <= {c} "
                f"(min_shape={mn}, opt_shape={op}, max_shape={mx})"
            )
    return mn, op, mx


def profile_count(specs: Sequence[Input]) -> int:
    """How many optimization profiles the engines get: every input has that many, or one
    (used in every profile)."""
    counts = {len(s.profiles) for s in specs} - {1}  # type: ignore[arg-type]
    if len(counts) > 1:
        raise ValueError(
            "inputs have different numbers of optimization profiles "
            f"({[len(s.profiles) for s in specs]}); give every input the same number (or one)"  # type: ignore[arg-type]
        )
    return counts.pop() if counts else 1


#: the engine-feature settings (a value other than the field's default is a request the
#: backend's capability table must allow)
ENGINE_FEATURES: tuple[str, ...] = (
    "enable_weight_streaming", "immutable_weights", "strip_engine_weights", "refit_identical_engine_weights",
    "hardware_compatible", "version_compatible", "max_aux_streams", "sparse_weights", "timing_cache_path",
    "runtime_cache_path",
)


def normalize_inputs(inputs: Sequence[Any], names: Sequence[str | None] | None = None,
                     ) -> tuple[list[Input], list[torch.Tensor | None]]:
    """Turn example tensors / Input specs into ``(specs, examples)``; ``names`` name keyword inputs."""
    specs, examples = [], []
    names = list(names or [None] * len(inputs))
    for i, item in enumerate(inputs):
        if isinstance(item, torch.Tensor):
            specs.append(Input.from_tensor(item, name=names[i] or f"input_{i}"))
            examples.append(item)
        elif isinstance(item, Input):
            specs.append(item)
            examples.append(None)
        else:
            where = f"kwarg_inputs[{names[i]!r}]" if names[i] else f"inputs[{i}]"
            raise TypeError(
                f"{where} is a {type(item).__name__}; give example tensors or trtforge.Input(...) specs"
            )
    return specs, examples
