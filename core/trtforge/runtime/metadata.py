"""What the runtime needs to know about one engine, kept next to its serialized bytes."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: Version of the saved-program format. Bump on any incompatible change to
#: EngineMetadata or to how engines are stored; loaders refuse other versions.
ABI_VERSION = 1


@dataclass
class TensorSpec:
    """One engine input or output. Shapes use -1 for dynamic dimensions."""

    name: str
    dtype: str  # torch dtype name without "torch.", e.g. "float32"
    shape: list[int]
    #: [min, opt, max] shapes for inputs of engines with dynamic dimensions
    profile: list[list[int]] | None = None


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
    hardware_compatibility: str = "none"
    weight_streaming: bool = False
    device: int = 0
    #: compute capability the engine was built for, "" if unknown (AOT on CPU)
    compute_capability: str = ""
    #: nodes of the original graph this engine replaces (for reports and inspect)
    source_nodes: list[str] = field(default_factory=list)
    engine_bytes: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineMetadata":
        data = dict(data)
        data["inputs"] = [TensorSpec(**t) for t in data.get("inputs", [])]
        data["outputs"] = [TensorSpec(**t) for t in data.get("outputs", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> "EngineMetadata":
        return cls.from_dict(json.loads(text))
