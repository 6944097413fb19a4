"""Loading checks every engine once: each engine's sha256 (in parallel), every other archive member's
CRC; a damaged engine member still gets the CRC message and a rewritten one the sha256 message,
before any engine can run."""
from __future__ import annotations

import zipfile

import pytest
import torch

import trtforge
from trtforge.errors import CorruptedProgramError
from trtforge.runtime import engines_of, metadata
from trtforge.runtime.archive import read_manifest


class ThreeEngines(torch.nn.Module):
    def forward(self, x):
        for _ in range(3):
            x = torch.sin(torch.relu(x * 2 + 1))  # sin stays in PyTorch: one engine per step
        return x


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    x = torch.randn(2, 4)
    compiled = trtforge.compile(ThreeEngines(), [x], min_block_size=1, torch_executed_ops={"aten::sin"})
    assert len(engines_of(compiled)) == 3
    path = tmp_path_factory.mktemp("load") / "three.pt2"
    trtforge.save(compiled, path, inputs=[x])
    return path


def _engine_members(path):
    with zipfile.ZipFile(path) as z:
        return [i.filename for i in z.infolist()
                if "/data/weights/" in i.filename and not i.filename.endswith(".json") and i.file_size > 1000]


def _flip_in_place(src, dst, member):
    """A copy of ``src`` with one byte of ``member`` flipped and its recorded CRC left as it was."""
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
        off = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    raw[off] ^= 0xFF
    dst.write_bytes(bytes(raw))


def test_each_engine_is_hashed_once_per_load(program, monkeypatch):
    calls = []
    real = metadata.engine_sha256
    monkeypatch.setattr(metadata, "engine_sha256", lambda data: calls.append(1) or real(data))
    loaded = trtforge.load(program)
    assert len(calls) == 3 == len(engines_of(loaded))
    assert all(len(e.metadata.sha256) == 64 for e in engines_of(loaded))


def test_engine_members_are_left_to_the_sha256_not_read_twice(program, tmp_path):
    members = _engine_members(program)
    assert len(members) == 3
    bad = tmp_path / "flip.pt2"
    _flip_in_place(program, bad, members[1])
    with pytest.raises(CorruptedProgramError, match="fails its CRC check"):
        read_manifest(bad, verify=True)  # the full pass (trtforge inspect's) reads every member
    read_manifest(bad, verify=True, engines_verified=True)  # load's pass leaves engines to their sha256
    with pytest.raises(CorruptedProgramError, match=f"archive member '{members[1]}' fails its CRC check"):
        trtforge.load(bad)  # ... which still fails, and says the member is damaged
    with pytest.raises(CorruptedProgramError, match="sha256"):
        trtforge.load(bad, verify=False)


def test_a_damaged_member_other_than_an_engine_still_fails_its_crc(program, tmp_path):
    with zipfile.ZipFile(program) as z:
        other = next(i.filename for i in z.infolist() if i.filename.endswith(".json") and i.file_size > 200
                     and "manifest" not in i.filename)
    bad = tmp_path / "other.pt2"
    _flip_in_place(program, bad, other)
    with pytest.raises(CorruptedProgramError, match="fails its CRC check"):
        trtforge.load(bad)


def test_digests_are_kept_per_tensor_until_it_changes(monkeypatch):
    calls = []
    real = metadata.engine_sha256
    monkeypatch.setattr(metadata, "engine_sha256", lambda data: calls.append(1) or real(data))
    tensors = [torch.randint(0, 255, (4096,), dtype=torch.uint8) for _ in range(3)]
    digests = metadata.engine_digests(tensors)  # in parallel where there are cores
    assert digests == [real(t) for t in tensors] and len(calls) == 3
    assert metadata.engine_digest(tensors[0]) == digests[0] and len(calls) == 3  # kept
    tensors[0][0] ^= 1  # an in-place write: hashed again
    assert metadata.engine_digest(tensors[0]) == real(tensors[0]) != digests[0] and len(calls) == 4
    same_bytes = tensors[1].clone()  # equal bytes, another tensor: its own entry
    assert metadata.engine_digest(same_bytes) == digests[1] and len(calls) == 5
