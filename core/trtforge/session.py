"""What one compile shares across its stages: :class:`Session` (settings, backend, packs, report).

The stage functions are in :mod:`trtforge.pipeline`; each runs inside :meth:`Session.stage`, the
one place that times a stage (``report.timings_s``), announces it to progress listeners and logs
it to ``logging.getLogger("trtforge.<stage>")`` (shown on stderr with ``debug=True``; see
:mod:`trtforge._logging`).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from . import backend as _backend
from ._logging import StageLog, logged_stage
from ._progress import stage as _announce
from .conversion.interpreter import Network
from .errors import CompilationError
from .plugins.manager import PackManager
from .report import CompileReport
from .settings import CompileSettings

__all__ = ["NetworkObserver", "Session", "resolve_backends"]

#: called with every constructed network (the test kit reads layers this way)
NetworkObserver = Callable[[Network], None]


@dataclass
class Session:
    """What one compile shares across its stages."""

    settings: CompileSettings
    manager: PackManager
    #: the backend that converts and builds (None: a dryrun with no TensorRT installed)
    backend: _backend.Backend | None
    #: the backend the networks are made for (``target_backend``)
    target: str
    report: CompileReport
    observers: tuple[NetworkObserver, ...] = ()
    #: when the compile started (``perf_counter``): ``timings_s["total"]`` counts from here
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(cls, settings: CompileSettings, manager: PackManager, model: str,
             observers: Sequence[NetworkObserver] = ()) -> "Session":
        """Resolve the backends and start the report (timed and logged as the ``setup`` stage)."""
        started = time.perf_counter()
        report = CompileReport(model=model, precision=str(settings.precision).replace("torch.", ""))
        with report.timed("setup"), logged_stage("setup", f"setting up the compile of {model}", settings.debug) as st:
            backend, target = resolve_backends(settings)
            report.backend, report.target_backend = backend.name if backend else None, target
            report.packs = [r.name for r in manager.loaded()]
            st.note(backend=f"{backend.name} {backend.version}" if backend else None, target=target,
                    packs=len(report.packs))
        return cls(settings, manager, backend, target, report, tuple(observers), started)

    @property
    def registry(self) -> Any:
        return self.manager.registry

    @contextmanager
    def stage(self, name: str, doing: str | None = None, announce: bool = True) -> Iterator[StageLog]:
        """Run the block as stage ``name``: announced to progress listeners (a long step: ``announce``),
        logged to ``trtforge.<name>`` (the block notes its counts on the :class:`StageLog` it gets),
        its time added to ``report.timings_s[name]``."""
        if announce:
            _announce(doing or name)
        with self.report.timed(name), logged_stage(name, doing or name, self.settings.debug) as st:
            yield st


def resolve_backends(cfg: CompileSettings) -> tuple[_backend.Backend | None, str]:
    """``(backend in use, target backend name)``; errors say which package to install."""
    if cfg.dryrun and cfg.backend is None:
        backend = _backend.resolve() if _backend.available() else None
    else:
        backend = _backend.resolve(cfg.backend)
    name = backend.name if backend else None
    target = cfg.target_backend or name or "tensorrt"
    if cfg.build and not cfg.dryrun and name is not None and target != name:
        raise CompilationError(
            f"target_backend={target!r} differs from the backend in use ({name!r}): engines for "
            f"{target!r} cannot be built here. Pass build=False to construct and validate the "
            f"networks for {target!r} without building them."
        )
    refused = _backend.feature_refusals(cfg.requested_features(), target,
                                        name if cfg.build and not cfg.dryrun else None,
                                        torch.cuda.is_available())
    if refused:
        raise CompilationError(
            f"these settings cannot be honoured (target backend {target!r}, building with "
            f"{name if cfg.build else 'no build'!r}):\n  " + "\n  ".join(refused)
        )
    return backend, target
