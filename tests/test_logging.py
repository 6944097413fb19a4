"""Logging: every stage logs to ``trtforge.<stage>``, TensorRT to ``trtforge.tensorrt``; ``debug=True``
shows them on stderr for the length of the compile and leaves no handler behind.

The suite runs with ``-p no:logging`` (no caplog), so these tests attach their own handler.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
import torch

import trtforge
from trtforge._logging import DebugHandler
from toy_models import Chain

STAGES = {"setup", "export", "cache", "lowering", "precision", "partitioning", "validation", "conversion", "build",
          "assembly"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def on(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == name]

    def stages(self) -> set[str]:
        return {r.name.split(".", 1)[1] for r in self.records if r.name.startswith("trtforge.")}


@contextmanager
def listening(level: int | None = None):
    """Our own handler on the ``trtforge`` logger (``level``: set the logger's level, as an
    application would; None: leave it alone). Restores the logger afterwards."""
    logger = logging.getLogger("trtforge")
    handler, before = Records(), logger.level
    logger.addHandler(handler)
    if level is not None:
        logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def _trtforge_handlers() -> list[logging.Handler]:
    return list(logging.getLogger("trtforge").handlers)


def test_debug_logs_every_stage_to_its_own_logger_and_prints_it(toy_manager, tmp_path, capsys):
    handlers, level = _trtforge_handlers(), logging.getLogger("trtforge").level
    with listening() as seen:  # the library's own level is untouched: only debug=True opens it
        out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, debug=True, validate=True,
                               precision=torch.float16, keep_fp32=("aten::relu",), engine_cache_dir=str(tmp_path))
    assert out.trtforge_report.built and out.trtforge_report.cache == "miss"
    assert STAGES <= seen.stages(), STAGES - seen.stages()
    for stage in STAGES:  # each stage says when it started and what it did, with its time
        msgs = [r.getMessage() for r in seen.on(f"trtforge.{stage}")]
        assert any(m.endswith(": started") for m in msgs), (stage, msgs)
        assert any(" done in " in m and m.rstrip().split(" done in ")[1].split(" s")[0].replace(".", "").isdigit()
                   for m in msgs), (stage, msgs)
    builds = [r.getMessage() for r in seen.on("trtforge.build") if r.levelno == logging.INFO]
    sizes = [int(m.split("engine_bytes=")[1]) for m in builds]
    assert sizes == [e.engine_bytes for e in out.trtforge_report.engines]
    (partitioned,) = [r.getMessage() for r in seen.on("trtforge.partitioning") if "partitions=" in r.getMessage()]
    rep = out.trtforge_report
    assert partitioned.endswith(f"compute_nodes={rep.compute_nodes}, partitions={len(rep.engines)}, "
                                f"pytorch_nodes={len(rep.fallback)}") and len(rep.fallback) > 0
    err = capsys.readouterr().err  # debug=True: shown on stderr, TensorRT's messages too
    assert "trtforge.build INFO: building engine _run_on_trt_0" in err
    assert "trtforge.tensorrt DEBUG: " in err and "trtforge.tensorrt INFO: " in err
    assert _trtforge_handlers() == handlers and logging.getLogger("trtforge").level == level


def test_debug_attaches_one_handler_during_the_compile_and_none_after_twice(toy_manager):
    before = _trtforge_handlers()
    during: list[int] = []
    observe = lambda net: during.append(sum(isinstance(h, DebugHandler) for h in _trtforge_handlers()))  # noqa: E731
    for _ in range(2):
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, debug=True, build=False, observers=[observe])
        assert _trtforge_handlers() == before
    assert during == [1, 1, 1, 1]  # two networks per compile, exactly one debug handler each time
    trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False, observers=[observe])
    assert during[4:] == [0, 0]  # without debug=True, none


def test_debug_through_torch_compile_logs_each_region_s_stages(toy_manager):
    """The torch.compile backend opens the same session: its stages log when the region compiles
    (at the first call), and leave no handler behind."""
    before = _trtforge_handlers()
    torch._dynamo.reset()
    compiled = torch.compile(trtforge.testing.module_from(lambda x: torch.relu(x * 2 + 1)), backend="trtforge",
                             options={"min_block_size": 1, "debug": True, "build": False})
    with listening() as seen, pytest.raises(trtforge.EngineNotBuiltError):
        compiled(torch.randn(2, 4))  # build=False: the regions compiled, their engines were not built
    assert {"setup", "export", "lowering", "partitioning", "conversion", "assembly"} <= seen.stages()
    assert _trtforge_handlers() == before


def test_a_failing_stage_is_logged_and_the_debug_handler_still_removed(toy_manager):
    before = _trtforge_handlers()
    with listening() as seen, pytest.raises(trtforge.CompilationError, match="require_full_compilation"):
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, debug=True, require_full_compilation=True)
    (failed,) = [r.getMessage() for r in seen.on("trtforge.partitioning") if "failed" in r.getMessage()]
    assert failed.startswith("partitioning: failed after ") and "CompilationError: require_full_compilation" in failed
    assert _trtforge_handlers() == before


def test_without_debug_nothing_is_printed_and_the_logging_module_enables_it(toy_manager, capsys):
    """Plain compile: silent. An application that sets the ``trtforge`` level gets every stage's
    records, and TensorRT's builder messages (INFO, and VERBOSE as DEBUG) on ``trtforge.tensorrt``."""
    with listening() as quiet:  # level left alone: WARNING inherited from the root logger
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1)
    assert quiet.records == []
    assert "trtforge." not in capsys.readouterr().err
    with listening(logging.DEBUG) as seen:
        out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1)
    assert out.trtforge_report.built
    assert {"setup", "export", "lowering", "partitioning", "conversion", "build", "assembly", "tensorrt"} <= seen.stages()
    trt_levels = {r.levelno for r in seen.on("trtforge.tensorrt")}
    assert {logging.INFO, logging.DEBUG} <= trt_levels, trt_levels
    assert any("Engine generation completed" in r.getMessage() for r in seen.on("trtforge.tensorrt"))
    assert "trtforge." not in capsys.readouterr().err  # our handler only; nothing printed


def test_tensorrt_severities_map_to_logging_levels_and_errors_are_kept():
    from trtforge import backend
    from trtforge.backend.trt_logger import level_of

    if not backend.available():
        pytest.skip("no TensorRT backend installed (install trtforge[rtx] or trtforge[tensorrt])")
    trt = backend.trt
    sev = trt.ILogger.Severity
    assert [level_of(trt, s) for s in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING, sev.INFO, sev.VERBOSE)] == [
        logging.ERROR, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    log = backend.logger()
    mark = len(log.errors)
    with listening(logging.DEBUG) as seen:
        for s, text in ((sev.INTERNAL_ERROR, "a"), (sev.ERROR, "b"), (sev.WARNING, "c"), (sev.INFO, "d"),
                        (sev.VERBOSE, "e")):
            log.log(s, text)
    assert [(r.name, r.levelname, r.getMessage()) for r in seen.records] == [
        ("trtforge.tensorrt", "ERROR", "a"), ("trtforge.tensorrt", "ERROR", "b"), ("trtforge.tensorrt", "WARNING", "c"),
        ("trtforge.tensorrt", "INFO", "d"), ("trtforge.tensorrt", "DEBUG", "e")]
    assert log.errors[mark:] == ["a", "b"]
    with pytest.raises(TypeError):
        backend.logger(True)  # the old ``verbose`` flag is gone: output is the logging module's business
