"""Reading the files the configuration names: the configuration itself, a contacts file,
a credential file, a mail template.

Each is a regular file (a link to one is fine: configuration is often managed that way)
of modest size. A FIFO would block the read (and the start) until something writes to
it, and a device like /dev/zero would never end while memory filled: both are refused as
plain OSErrors, whose strerror says why, so every caller's `cannot be read (…)` message
covers them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from faxd.host.contained import TooLargeError, read_all

SETTING_FILE_CAP = 32 * 1024 * 1024  # far above 100,000 contacts; far below a mistake


def read_setting_file(path: Path, cap: int = SETTING_FILE_CAP) -> bytes:
    """The bytes of a regular file up to `cap`. Raises FileNotFoundError,
    IsADirectoryError, PermissionError as `open` would, and OSError for anything that is
    not a regular file or is larger than `cap`."""
    # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file but a FIFO, device or socket")
        try:
            return read_all(fd, cap, path.name, "setting file")
        except TooLargeError as exc:
            raise OSError(errno.EFBIG, str(exc).rstrip(".")) from None
    finally:
        os.close(fd)
