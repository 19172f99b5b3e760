"""The names of pennlayer's JupyterHub scopes (what each allows: :mod:`.scopes`)."""

USE = "custom:pennlayer:use"
MANAGE = "custom:pennlayer:manage"
