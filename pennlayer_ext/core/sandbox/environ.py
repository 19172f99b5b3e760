"""A kernel's environment is an allow-list: the server's own variables never reach it.

A Jupyter server's environment holds its credentials (``JUPYTER_TOKEN``,
``JPY_API_TOKEN``, ``JUPYTERHUB_*``) and often the node's cloud keys (``AWS_*``...). A
kernel runs code from notebooks, so it gets only what Jupyter, Python and the session
need (:data:`ALLOWED`, the ``LC_*`` locale variables and the session's own variables),
plus the names an operator allows on purpose (``PennLayerApp.kernel_env_allow``). A name
that looks like a credential (:func:`is_secret_name`) is never passed, allowed or not.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from ..errors import InvalidInput

#: What Jupyter, Python and a terminal need; the session's variables are added after.
ALLOWED = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "COLORTERM",
        # Set by jupyter_server (the notebook's path) and jupyter_client for the kernel.
        "JPY_SESSION_NAME",
        "JPY_PARENT_PID",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "MPLBACKEND",
    }
)
ALLOWED_PREFIXES = ("LC_",)

#: The variables a session sets for itself (layout.kernel_environment).
SESSION_VARIABLES = frozenset(
    {
        "VIRTUAL_ENV",
        "PENNLAYER_MOUNT_ROOT",
        "PENNLAYER_ENVIRONMENT",
        "PENNLAYER_LAYERS",
        "PENNLAYER_BACKEND",
        "PENNLAYER_NOTICE",
        "PENNLAYER_URL",
        "PENNLAYER_SESSION_FILE",
    }
)

_SECRET_NAMES = frozenset({"JUPYTER_TOKEN", "JPY_API_TOKEN", "JUPYTER_PASSWORD"})
_SECRET_PREFIXES = ("JUPYTERHUB_", "AWS_", "GOOGLE_", "AZURE_", "JPY_API")
_SECRET_PARTS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_secret_name(name: str) -> bool:
    """True for a variable that may hold a credential: it never reaches a kernel."""
    upper = name.upper()
    return (
        upper in _SECRET_NAMES
        or upper.startswith(_SECRET_PREFIXES)
        or any(part in upper for part in _SECRET_PARTS)
    )


def check_env_allow(names: Iterable[str]) -> list[str]:
    """*names* as a checked list, or InvalidInput naming the first bad one."""
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(f"{name!r} is not an environment variable name.")
        if is_secret_name(name):
            raise InvalidInput(
                f"{name} looks like a credential (a token, secret, password or cloud key): "
                "it is never passed to kernels."
            )
        checked.append(name)
    return checked


def is_allowed(name: str, extra: Collection[str] = ()) -> bool:
    """True if a kernel may get the variable *name*."""
    if is_secret_name(name):
        return False
    return (
        name in ALLOWED
        or name in SESSION_VARIABLES
        or name.startswith(ALLOWED_PREFIXES)
        or name in extra
    )


def allowed_environment(base: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The variables of *base* a kernel may get (see :func:`is_allowed`)."""
    extra = frozenset(extra)
    return {name: value for name, value in base.items() if is_allowed(name, extra)}
