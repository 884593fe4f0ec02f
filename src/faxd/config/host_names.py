"""Whether a configured server's name (an SMTP `host`, the host of a URL) can be one. A
space, a control character or a NUL byte copied in with it was accepted, and every
connection then failed on it (the NUL as a ValueError each message gave up with), long
after check-config had said OK."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

# Letters and digits of any script (an internationalised name is turned into ASCII when
# connecting), '-', '_' and the dots between labels.
_NAME = re.compile(r"[\w.-]+")


def host_problem(host: str) -> str | None:
    """What keeps `host` from being a server's name or IP address, as the end of a
    sentence ("it holds …"), or None."""
    for char in host:
        if char.isspace() or unicodedata.category(char).startswith("C"):
            return "holds a space or a control character"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if _NAME.fullmatch(host):
        return None
    wrong = next(char for char in host if not _NAME.fullmatch(char))
    return f"holds '{wrong}', which no host name has"
