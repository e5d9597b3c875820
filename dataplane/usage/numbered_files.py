"""Segment files named by a zero-padded sequence number, shared by the journal and spool."""

from __future__ import annotations

from pathlib import Path


def numbered_path(directory: Path, seq: int, suffix: str) -> Path:
    # Zero-padded, so names sort in sequence order.
    return directory / f"{seq:016d}{suffix}"


def numbered_files(directory: Path, suffix: str) -> list[tuple[int, Path]]:
    """(sequence number, path) of each `<digits><suffix>` file in `directory`, unordered."""
    out = []
    for path in directory.iterdir():
        stem = path.name.removesuffix(suffix)
        if path.name.endswith(suffix) and stem.isdigit():
            out.append((int(stem), path))
    return out
