"""The engine cache: hits, misses on changed inputs, the size cap, corruption."""
from __future__ import annotations

import torch

import trtforge
from trtforge.cache import EngineCache


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))

    def forward(self, x):
        return torch.relu(x * self.w + x)


def _compile(model, cache_dir, **kw):
    return trtforge.compile(model, [torch.randn(2, 4)], min_block_size=1, engine_cache_dir=str(cache_dir), **kw)


def test_second_compile_hits_and_returns_the_same_engines(toy_manager, tmp_path):
    m = Small()
    first = _compile(m, tmp_path)
    assert first.trtforge_report.cache == "miss"
    second = _compile(m, tmp_path)
    assert second.trtforge_report.cache == "hit"
    assert second._run_on_trt_0.serialized_engine == first._run_on_trt_0.serialized_engine
    assert "lowering" not in second.trtforge_report.timings_s  # lowering and build were skipped


def test_changed_settings_or_weights_miss(toy_manager, tmp_path):
    m = Small()
    _compile(m, tmp_path)
    assert _compile(m, tmp_path, optimization_level=1).trtforge_report.cache == "miss"
    other = Small()
    assert _compile(other, tmp_path).trtforge_report.cache == "miss"
    assert trtforge.compile(m, [torch.randn(3, 4)], min_block_size=1,
                            engine_cache_dir=str(tmp_path)).trtforge_report.cache == "miss"
    # settings that do not change the program share the entry
    assert _compile(m, tmp_path, debug=False).trtforge_report.cache == "hit"


def test_size_cap_evicts_least_recently_used(tmp_path):
    cache = EngineCache(tmp_path, max_bytes=3000)
    for i in range(5):
        cache.put(f"{i:040x}", torch.zeros(200))  # ~1 KB each
    keys = [e[0] for e in cache.entries()]
    assert cache.size() <= 3000 and f"{4:040x}" in keys and f"{0:040x}" not in keys


def test_corrupted_entry_is_detected_and_rebuilt(toy_manager, tmp_path):
    m = Small()
    _compile(m, tmp_path)
    (payload,) = list(tmp_path.glob("*.bin"))
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0xFF
    payload.write_bytes(bytes(data))
    again = _compile(m, tmp_path)
    assert again.trtforge_report.cache == "corrupt" and again.trtforge_report.built
    assert _compile(m, tmp_path).trtforge_report.cache == "hit"


def test_truncated_entry_is_rebuilt(toy_manager, tmp_path):
    m = Small()
    _compile(m, tmp_path)
    (payload,) = list(tmp_path.glob("*.bin"))
    payload.write_bytes(payload.read_bytes()[:100])
    assert _compile(m, tmp_path).trtforge_report.cache == "corrupt"


def test_cli_cache_info_and_clear(toy_manager, tmp_path, capsys):
    import json

    from trtforge.cli.main import main

    _compile(Small(), tmp_path)
    assert main(["cache", "info", "--dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 1
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert EngineCache(tmp_path).entries() == []


def test_models_with_zero_dim_buffers_are_cacheable(toy_manager, tmp_path):
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.ReLU()).eval()  # num_batches_tracked is 0-d
    first = trtforge.compile(model, [torch.randn(2, 4)], min_block_size=1, engine_cache_dir=str(tmp_path))
    assert first.trtforge_report.cache == "miss"
    again = trtforge.compile(model, [torch.randn(2, 4)], min_block_size=1, engine_cache_dir=str(tmp_path))
    assert again.trtforge_report.cache == "hit"


def test_a_hit_outlives_its_entry_and_saves_whole(toy_manager, tmp_path):
    # a loaded program must not depend on its entry's file staying as it was
    from trtforge.runtime import inspect_saved

    m, x = Small(), torch.randn(2, 4)
    cold = _compile(m, tmp_path / "cache")
    hit = _compile(m, tmp_path / "cache")
    assert hit.trtforge_report.cache == "hit"
    EngineCache(tmp_path / "cache").clear()
    assert hit._run_on_trt_0.serialized_engine == cold._run_on_trt_0.serialized_engine
    trtforge.save(hit, tmp_path / "hit.pt2", inputs=[x])
    [engine] = inspect_saved(tmp_path / "hit.pt2")["engines"]
    assert engine["engine_bytes"] == len(cold._run_on_trt_0.serialized_engine)


def test_named_dynamic_dimensions_are_part_of_the_key(toy_manager, tmp_path):
    class Two(torch.nn.Module):
        def forward(self, a, b):
            return torch.relu(a) + torch.relu(b).sum()

    rng = dict(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(4, 4))
    plain = [trtforge.Input(**rng), trtforge.Input(**rng)]
    tied = [trtforge.Input(**rng, dim_names={0: "batch"}), trtforge.Input(**rng, dim_names={0: "batch"})]
    kw = dict(min_block_size=1, engine_cache_dir=str(tmp_path))
    assert trtforge.compile(Two(), plain, **kw).trtforge_report.cache == "miss"
    assert trtforge.compile(Two(), tied, **kw).trtforge_report.cache == "miss"
    assert trtforge.compile(Two(), tied, **kw).trtforge_report.cache == "hit"


def test_the_printed_report_says_what_the_cache_did(toy_manager, tmp_path):
    import io

    from rich.console import Console

    m = Small()
    for outcome in ("miss", "hit"):
        report = _compile(m, tmp_path).trtforge_report
        buf = io.StringIO()
        report.render(Console(file=buf, width=200))
        assert f"engine cache: {outcome} (" in buf.getvalue()


def test_damage_in_any_chunk_is_detected(toy_manager, tmp_path, monkeypatch):
    import trtforge.cache

    monkeypatch.setattr(trtforge.cache, "_CHUNK", 256)  # many chunks, checked on threads
    m = Small()
    _compile(m, tmp_path)
    (payload,) = list(tmp_path.glob("*.bin"))
    good = payload.read_bytes()
    assert len(good) > 4 * 256
    for where in (0, len(good) // 3, len(good) - 1):
        data = bytearray(good)
        data[where] ^= 0x01
        payload.write_bytes(bytes(data))
        assert _compile(m, tmp_path).trtforge_report.cache == "corrupt"  # and stored afresh
        good = payload.read_bytes()
    assert _compile(m, tmp_path).trtforge_report.cache == "hit"


def test_clear_removes_leftovers_but_nothing_else(toy_manager, tmp_path):
    _compile(Small(), tmp_path)
    (tmp_path / ("ab" * 20 + ".check")).write_text("crc32 0\n")  # a checksum whose payload is gone
    (tmp_path / ("cd" * 20 + ".123.tmp")).write_bytes(b"half")  # an interrupted write
    (tmp_path / "notes.txt").write_text("mine")  # not the cache's
    assert EngineCache(tmp_path).clear() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
