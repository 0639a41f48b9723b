"""Files unyo writes for the user: results, reports, exports. Written 0600, atomically, never
through a symlink.

    with private_output(path) as tmp:      # a new 0600 file in the target's directory
        tmp.write_text(...)                # or open(tmp, ...) / book.save(tmp)
    # renamed over `path` on success; removed on any error, the old file untouched

The rename replaces a symlink at `path` itself rather than writing through it, so a planted
link never redirects the write. The temporary name is random and created with O_EXCL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE = 0o600


@contextmanager
def private_output(path: str | Path) -> Iterator[Path]:
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    tmp = Path(name)
    try:
        os.fchmod(fd, PRIVATE)
        os.close(fd)
        yield tmp
        os.chmod(tmp, PRIVATE)  # a library that replaced the file keeps it private too
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_private(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> None:
    with private_output(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
