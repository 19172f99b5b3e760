"""``%layer`` and ``%%layer``: one line magic and one cell magic with subcommands.

A refused request shows the API's message as one line (the same text the sidebar and the
CLI show), never a traceback; the cell still counts as failed, so "Run All" stops there.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import progress, render
from .client import Client, LayerError

HELP = """\
%layer list [--kind environment|reference] [--status STATUS] [--search TEXT]
           [--sort KEY] [--desc] [--limit N] [--offset N] [--all]
                                 the node's layers, 50 at a time unless --all
%layer info NAME                 one layer: status, version, digest, size, packages...
%layer path NAME                 the mount of a layer of this session (a pathlib.Path)
%layer mounted                   this session's layers, their versions and digests
%layer diff                      what %pip installed, upgraded or removed in this session
%layer save NEW-NAME [--description TEXT]
                                 build a new environment: this one plus the live installs
%layer build NAME                rebuild an environment from its requirements
%%layer build NAME               build (or create) an environment; requirements in the cell
%layer populate NAME [SOURCE] [--processor TYPE] [--format F] [--command CMD]
                                 [--image IMAGE] [--network] [--memory M] [--cpus N]
                                 [--sha256 HEX] [--mode add|replace]
                                 (no SOURCE: run the layer's stored recipe again)
%layer archive NAME              move a layer to the cold store (IA)
%layer restore NAME              bring an archived layer back
%layer cancel JOB-ID             cancel a job
%layer help                      this help
Long jobs show their progress; interrupt the cell to be asked whether to cancel."""


# The options that describe a new recipe: they need a SOURCE.
_POPULATE_OPTIONS = (
    "processor",
    "format",
    "command",
    "image",
    "memory",
    "cpus",
    "sha256",
    "mode",
    "network",
)


class LayerMagicError(Exception):
    """Shown as its message alone: one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never SystemExit in a kernel
        raise LayerMagicError(f"%layer {self.prog.split()[-1]}: {message} (see %layer help)")


def _parser(command: str) -> _Parser:
    return _Parser(prog=f"%layer {command}", add_help=False)


def _mount_root() -> str:
    return os.environ.get("PENNLAYER_MOUNT_ROOT", "/mnt/layers")


@magics_class
class LayerMagics(Magics):
    """The ``%layer`` magics of a pennlayer kernel."""

    _client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client.from_session()
        return self._client

    @line_cell_magic
    def layer(self, line: str, cell: str | None = None) -> Any:
        """See, build, fill and save layers: ``%layer help`` lists the subcommands."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise LayerMagicError(f"%layer: {exc}.") from None
        command, args = (words[0], words[1:]) if words else ("help", [])
        handler = getattr(self, f"_do_{command}", None)
        if handler is None:
            raise LayerMagicError(f"Unknown %layer command {command!r}; see %layer help.")
        if cell is not None and command != "build":
            raise LayerMagicError("Only '%%layer build NAME' takes a cell body.")
        try:
            return handler(args, cell) if command == "build" else handler(args)
        except LayerError as exc:
            raise LayerMagicError(str(exc)) from None

    # -- reading ---------------------------------------------------------------------------

    def _do_help(self, args: list[str]) -> render.Rich:
        return render.Rich(f"<pre>{render.esc(HELP)}</pre>", HELP)

    def _do_list(self, args: list[str]) -> render.Rich:
        parser = _parser("list")
        parser.add_argument("--kind")
        parser.add_argument("--status")
        parser.add_argument("--search", dest="q")
        parser.add_argument("--sort")
        parser.add_argument("--desc", dest="order", action="store_const", const="desc")
        parser.add_argument("--limit", default="50")
        parser.add_argument("--offset")
        parser.add_argument("--all", action="store_true")
        options = vars(parser.parse_args(args))
        if options.pop("all"):
            options["limit"] = options["offset"] = None  # the server answers every layer
        query = {k: v for k, v in options.items() if v is not None}
        listing = self.client.request("GET", "layers", query=query)
        return render.layers_table(listing, self._busy_jobs(listing.get("layers") or []))

    def _busy_jobs(self, layers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The running (else queued) job of each layer being built or loaded, by name;
        no request when there is none."""
        busy = {layer["name"] for layer in layers if layer["status"] in render.BUSY_STATUSES}
        found: dict[str, dict[str, Any]] = {}
        for state in ("running", "queued"):
            if busy - found.keys():
                listed = self.client.request("GET", "jobs", query={"state": state})
                for job in listed.get("jobs") or []:
                    if job["layer"] in busy:
                        found.setdefault(job["layer"], job)
        return found

    def _name(self, command: str, args: list[str], **extra: Any) -> argparse.Namespace:
        parser = _parser(command)
        parser.add_argument("name")
        for flag, options in extra.items():
            parser.add_argument(f"--{flag}", **options)
        return parser.parse_args(args)

    def _do_info(self, args: list[str]) -> render.Rich:
        name = self._name("info", args).name
        return render.layer_info(self.client.request("GET", "layers", name))

    def _do_path(self, args: list[str]) -> Path:
        name = self._name("path", args).name
        mounted = [os.environ.get("PENNLAYER_ENVIRONMENT", "")]
        mounted += [n for n in os.environ.get("PENNLAYER_LAYERS", "").split(",") if n]
        if name not in mounted:
            self.client.request("GET", "layers", name)  # the API's message for a bad name
            raise LayerMagicError(
                f"Layer {name!r} is not mounted in this session (mounted: "
                f"{', '.join(n for n in mounted if n)}); add it to the notebook's layers "
                "and restart the kernel."
            )
        return Path(_mount_root()) / name

    def _session(self) -> dict[str, Any]:
        client = self.client
        return dict(client.request("GET", "sessions", client.kernel_id))

    def _do_mounted(self, args: list[str]) -> render.Rich:
        _parser("mounted").parse_args(args)
        session = self._session()
        shown = render.mounted_table(session, _mount_root())
        shown.value = session
        return shown

    def _do_diff(self, args: list[str]) -> render.Rich:
        _parser("diff").parse_args(args)
        diff = self.client.request("GET", "sessions", self.client.kernel_id, "changes")
        shown = render.changes_table(diff)
        shown.value = diff
        return shown

    # -- jobs ------------------------------------------------------------------------------

    def _follow(self, job: dict[str, Any], title: str) -> dict[str, Any]:
        job = progress.follow(self.client, job, title)
        if job["state"] == "failed":
            raise LayerMagicError(progress.describe(job))
        return job

    def _outcome(self, name: str, job: dict[str, Any], extra: str = "") -> render.Rich:
        if job["state"] in progress.ACTIVE:
            return render.message(f"{job['kind']} of {name} goes on in the background.")
        if job["state"] == "cancelled":
            return render.message(f"The {job['kind']} of {name} was cancelled; nothing changed.")
        layer = self.client.request("GET", "layers", name)
        text = (
            f"{name} is {layer['status']}: version {layer['version']} "
            f"({(layer.get('digest') or '')[:19]})." + extra
        )
        return render.Rich(
            f"<p>{render.status_html(layer['status'])} {render.esc(text)}</p>", text, layer
        )

    def _do_build(self, args: list[str], cell: str | None) -> render.Rich:
        options = self._name("build", args, python={}, refresh={"action": "store_true"})
        name = options.name
        body: dict[str, Any] = {"refresh": options.refresh}
        if options.python:
            body["python"] = options.python
        if cell is None:
            layer = self.client.request("GET", "layers", name)
            if not layer.get("requirements"):
                raise LayerMagicError(
                    f"{name!r} has no requirements yet: give them in the cell with "
                    f"'%%layer build {name}'."
                )
            body["requirements"] = layer["requirements"]
            job = self.client.request("POST", "layers", name, "build", body=body)
        else:
            body["requirements"] = cell
            job = self._build_or_create(name, body)
        job = self._follow(job, f"Building {name}")
        return self._outcome(name, job, _switch_hint(name))

    def _build_or_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            self.client.request("GET", "layers", name)
        except LayerError:
            body = {"name": name, "kind": "environment", **body}
            return dict(self.client.request("POST", "layers", body=body))
        return dict(self.client.request("POST", "layers", name, "build", body=body))

    def _do_populate(self, args: list[str]) -> render.Rich:
        parser = _parser("populate")
        parser.add_argument("name")
        parser.add_argument("source", nargs="?")
        parser.add_argument("--processor")
        for field in ("format", "command", "image", "memory", "sha256", "mode"):
            parser.add_argument(f"--{field}")
        parser.add_argument("--cpus", type=float)
        parser.add_argument("--network", action="store_true")
        options = parser.parse_args(args)
        given = [field for field in _POPULATE_OPTIONS if getattr(options, field)]
        body: dict[str, Any] = {}  # no source: the stored recipe runs again, as it is
        if options.source is not None:
            processor: dict[str, Any] = {"type": options.processor or "copy"}
            for field in ("format", "command", "image", "memory", "cpus"):
                if getattr(options, field) is not None:
                    processor[field] = getattr(options, field)
            if options.network:
                processor["network"] = True
            body = {"source": options.source, "processor": processor}
            body["mode"] = options.mode or "replace"
            if options.sha256:
                body["sha256"] = options.sha256
        elif given:
            raise LayerMagicError(
                f"Give a SOURCE with --{given[0]} (without one, the stored recipe is re-run "
                "as it is)."
            )
        job = self.client.request("POST", "layers", options.name, "populate", body=body)
        what = "Populating" if body else "Re-running the loader of"
        job = self._follow(job, f"{what} {options.name}")
        return self._outcome(options.name, job)

    def _do_archive(self, args: list[str]) -> render.Rich:
        name = self._name("archive", args).name
        job = self._follow(
            self.client.request("POST", "layers", name, "archive"), f"Archiving {name}"
        )
        return self._outcome(name, job)

    def _do_restore(self, args: list[str]) -> render.Rich:
        name = self._name("restore", args).name
        title = render.restore_title(self.client.request("GET", "layers", name))
        job = self._follow(self.client.request("POST", "layers", name, "restore"), title)
        return self._outcome(name, job)

    def _do_cancel(self, args: list[str]) -> render.Rich:
        parser = _parser("cancel")
        parser.add_argument("job")
        job = progress.cancel(self.client, {"id": parser.parse_args(args).job})
        return render.message(f"Job {job['id']} is {job['state']}.")

    def _do_save(self, args: list[str]) -> render.Rich:
        options = self._name("save", args, description={})
        body: dict[str, Any] = {"name": options.name}
        if options.description is not None:
            body["description"] = options.description
        saved = self.client.request("POST", "sessions", self.client.kernel_id, "save", body=body)
        live = [
            f"{p['name']}=={p['version']}"
            for kind in ("installed", "upgraded", "downgraded")
            for p in saved["changes"][kind]
        ]
        live_text = ", ".join(live) or "no live changes"
        print(f"Saving {options.name}: the environment's lock plus {live_text}.")
        job = self._follow(saved["job"], f"Building {options.name}")
        return self._outcome(options.name, job, _switch_hint(options.name))


def _switch_hint(name: str) -> str:
    return (
        f" To use it: Kernel > Change Kernel... > '{name}' (or pick it in the Launcher); the "
        "new kernel mounts it."
    )
