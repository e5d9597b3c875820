import stat
from pathlib import Path

from oggy.contract.files import write_private_atomic


def test_replaces_atomically_with_mode_0600_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state"]
