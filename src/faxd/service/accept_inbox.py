"""`faxd accept-inbox [FOLDER]`: an inbox folder moved onto another disk on purpose is
delivered into again. faxd holds deliveries into an inbox folder found on the disk
holding the mount point of the file system it delivered into, that mount point a plain
folder now (the bare mount point of a share that is not mounted), and a restart does not
end that: the machine may well have started without its share. This command is the
admin saying the move was meant. Like the other one-shot commands it returns an exit
code and prints what an admin needs; errors are raised as FaxdError for `cli.main` to
word."""

from __future__ import annotations

import os
from pathlib import Path

from faxd.errors import FaxdError, UsageError
from faxd.host.folder_place import place_of
from faxd.service.records_commands import existing_journal
from faxd.settings import Settings
from faxd.store.journal import open_journal_file


def accept_inbox(settings: Settings, folder: Path | None) -> int:
    """Forget the file system faxd remembered for `folder` (the inbox by default, or a
    route's folder): the daemon takes the one it finds at its next poll, as at first."""
    inbox = settings.inbox
    if inbox is None:
        raise UsageError("no inbox is configured.", "Add an inbox: section to the configuration.")
    configured = {inbox.path, *inbox.routes.values()}
    target = Path(os.path.abspath(folder)) if folder is not None else inbox.path
    if target not in configured:
        names = ", ".join(sorted(str(p) for p in configured))
        raise UsageError(
            f"{target} is not an inbox folder of the configuration.", f"Name one of {names}."
        )
    # A route's folder inside the inbox is opened without following a link, so a link
    # there says nothing of where faxd would deliver.
    place = place_of(target, follow=not target.is_relative_to(inbox.path) or target == inbox.path)
    if place is None:
        raise FaxdError(
            f"the inbox folder {target} is not there.",
            "Create it (or mount its share) and run this again.",
        )
    path = existing_journal(settings)
    if path is None:
        print(f"faxd has not delivered into {target} yet: it takes it where it is.")
        return 0
    journal = open_journal_file(path)
    try:
        known = journal.folder_device(target)
        if known is None or known == place.device:
            print(f"faxd delivers into {target} where it is now already.")
            return 0
        journal.forget_folder_device(target)
    finally:
        journal.close()
    print(
        f"faxd delivers into {target} on the file system it is on now, from its next poll; "
        "what it delivered there before stays where it was."
    )
    return 0
