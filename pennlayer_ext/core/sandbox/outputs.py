"""What a sandboxed command leaves behind is made safe to publish as a layer.

A command runs as ``nobody`` without capabilities, but it can still give its own files
any mode (``chmod u+s``) and make fifos or sockets; on the host those files belong to
the server's user. Before anything is committed, :func:`normalize_tree` leaves only
plain files (0644, or 0755 if any execute bit was set), folders (0755) and symlinks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def normalize_tree(root: Path) -> list[str]:
    """Normalise the modes under *root*; remove what is not a file, folder or symlink.

    Returns the paths (relative to *root*) of what was removed. Folders get their mode
    before they are walked, so a folder the command made unreadable is walked too.
    """
    dropped: list[str] = []
    os.chmod(root, 0o755)  # noqa: S103 (a layer is readable by every session)
    for top, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(top, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            if stat.S_ISDIR(mode):
                os.chmod(path, 0o755)  # noqa: S103 (a layer is readable by every session)
            elif stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & 0o111 else 0o644)
            else:
                os.unlink(path)
                dropped.append(os.path.relpath(path, root))
    return sorted(dropped)
