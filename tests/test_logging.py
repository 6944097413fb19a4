"""Logging: TensorRT's messages go to ``trtforge.tensorrt``, through the process's one TensorRT logger.

The suite runs with ``-p no:logging`` (no caplog), so these tests attach their own handler.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
import torch

import trtforge

class Chain(torch.nn.Module):
    """relu(x*w + 1) + x -> sin (no converter in the toy pack) -> relu(z*2 + y): two engines."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))

    def forward(self, x):
        y = torch.relu(x * self.w + 1) + x
        z = torch.sin(y)
        return torch.relu(z * 2 + y)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def on(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == name]



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


def test_tensorrt_builder_messages_reach_trtforge_tensorrt_and_nothing_is_printed(toy_manager, capsys):
    """A plain compile prints nothing (no TensorRT warning about a second logger either: there is
    one); an application that opens the ``trtforge`` level gets TensorRT's builder messages."""
    with listening() as quiet:  # level left alone: WARNING inherited from the root logger
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1)
    assert quiet.records == []
    with listening(logging.DEBUG) as seen:
        out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1)
    assert out.trtforge_report.built
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
