"""The one atomic write: a reader sees the previous file or the new one, never half of one."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

FILE_MODE = 0o644  # mkstemp makes 0600; stored results and datasets are shared between users


def atomic_write(path: Path | str, data: bytes | str, mode: int = FILE_MODE) -> Path:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`
    (creating the folder). A failure removes the temporary file and leaves `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_save_array(path: Path | str, array: np.ndarray) -> Path:
    """`np.save` of `array` (never pickled) through `atomic_write`."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return atomic_write(path, buffer.getvalue())
