"""The pennlayer server extension: its lifecycle, REST routes, event schemas and the
background tasks (job watcher, integrity checks); the settings are in config.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import TraitError

from . import __version__
from .config import STORE_ENV, PennLayerConfig, default_store_root
from .core import LayerManagerAPI, PennLayerError
from .core.sandbox import availability, resolve_backend
from .events import EVENT_TIER, ChangeWatcher, tier_event
from .schemas import REQUEST_SCHEMAS, event_schema_paths, request_schema

__all__ = [
    "STORE_ENV",
    "PennLayerApp",
    "PennLayerConfigError",
    "default_store_root",
    "node_kernelspec_dir",
]


def node_kernelspec_dir(store_root: str) -> str:
    """Where a node service writes its environments' kernelspecs: ``kernels`` in its store
    (world-readable, like the layers)."""
    return os.path.join(os.path.expanduser(store_root), "kernels")


class PennLayerConfigError(Exception):
    """A pennlayer setting is invalid: the extension does not run."""


def _not_running(reason: str) -> str:
    reason = reason.strip()
    if not reason.endswith("."):
        reason += "."
    return (
        f"pennlayer is NOT running: {reason} Fix that setting and restart the server; "
        "nothing was read from or written to any layer store."
    )


@cache
def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _versions() -> dict[str, str | None]:
    """pennlayer's and its hosts' versions (package metadata is read from disk once)."""
    return {
        "pennlayer": __version__,
        "python": platform.python_version(),
        "jupyter_server": _package_version("jupyter_server"),
        "jupyterlab": _package_version("jupyterlab"),
        "papermill": _package_version("papermill"),
    }


class PennLayerApp(PennLayerConfig, ExtensionApp):
    """Layers for Jupyter: shared read-only environments and reference data."""

    name = "pennlayer"
    description = __doc__ or ""
    load_other_extensions = True

    def node_report(self, manager: LayerManagerAPI) -> dict[str, Any]:
        """``GET /pennlayer/node``'s answer (the CLI's ``node`` prints it): *manager*'s
        node, and, where this process owns the store, its sandbox, tier settings,
        interpreter and versions (a node service's client has them from the service)."""
        info = dict(manager.node_info())
        if self.owns_store:
            info.update(
                {
                    "sandbox": self.sandbox_report(),
                    "ia_after_days": self.ia_after_days,
                    "run_keep_versions_days": self.run_keep_versions_days,
                    "tier_interval_hours": self.tier_interval_hours,
                    "restore_wait_seconds": self.restore_wait_seconds,
                    "interpreters": [
                        {
                            "language": "python",
                            "version": platform.python_version(),
                            "path": sys.executable,
                        }
                    ],
                    "versions": _versions(),
                }
            )
        return info

    def sandbox_report(self) -> dict[str, Any]:
        """What the sandbox setting asks for, what kernels get, and whether it is enforced."""
        settings = self.kernel_config()
        report: dict[str, Any] = {
            "configured": self.sandbox,
            "backend": None,
            "read_only_enforced": False,
            "mount_root": self.mount_root,
            "unprivileged": False,
            "kernel_env_allow": list(self.kernel_env_allow),
            "kernel_docker_image": self.kernel_docker_image,
            "kernel_docker_memory": self.kernel_docker_memory,
            "kernel_docker_cpus": self.kernel_docker_cpus,
            "available": availability(settings),
        }
        try:
            backend, report["reason"] = resolve_backend(self.sandbox, settings)
        except PennLayerError as exc:
            report["reason"] = exc.message
            return report
        report["backend"] = backend.name
        report["read_only_enforced"] = backend.read_only_enforced
        report["unprivileged"] = backend.unprivileged
        if backend.notices():
            report["warning"] = "\n".join(backend.notices())
        return report

    # -- ExtensionApp lifecycle -----------------------------------------------------------

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        # jupyter_server logs a failed link as a warning and then loads the extension all
        # the same, with every pennlayer setting dropped (the store among them). Remember
        # the failure, so that loading refuses to run on a configuration nobody asked for.
        try:
            super()._link_jupyter_server_extension(serverapp)
        except Exception as exc:
            self._config_error = str(exc)
            self.log.error(_not_running(self._config_error))
            raise

    def initialize(self) -> None:
        error = getattr(self, "_config_error", None)
        if error is not None:
            raise PennLayerConfigError(_not_running(error))
        try:
            super().initialize()
        except TraitError as exc:
            self.log.error(_not_running(str(exc)))
            raise PennLayerConfigError(_not_running(str(exc))) from exc

    def _sweep_sandbox(self) -> None:
        """What kernels left when the node stopped under them goes (docker: the stopped
        containers); a sandbox that cannot run here has nothing to sweep."""
        try:
            backend, _ = resolve_backend(self.sandbox, self.kernel_config())
        except PennLayerError:
            return
        for name in backend.sweep():
            self.log.info("pennlayer: removed %s, left by a kernel the node stopped", name)

    def initialize_settings(self) -> None:
        manager = self.create_manager()
        for line in getattr(manager, "resealed", ()):
            self.log.info("pennlayer: %s", line)
        for line in getattr(manager, "notices", ()):
            self.log.warning("pennlayer: %s", line)
        for name in manager.sync_kernelspecs().get("held", []):
            self.log.warning(
                "pennlayer: the kernelspec %s in %s is not this store's (another store "
                "on this machine, or not pennlayer's): this server starts its own "
                "environment under that name, other tools (jupyter kernelspec list, "
                "nbconvert, papermill) find that one",
                name,
                self.kernelspec_dir,
            )
        for path in event_schema_paths():
            self.serverapp.event_logger.register_event_schema(path)
        for name in REQUEST_SCHEMAS:
            request_schema(name)  # read once now, never from a request on the event loop
        self.settings.update(
            {
                "pennlayer_manager": manager,
                "pennlayer_app": self,
            }
        )
        self._manager = manager
        self._watcher: asyncio.Task[None] | None = None
        self.core_executor = ThreadPoolExecutor(
            max_workers=max(1, self.core_threads), thread_name_prefix="pennlayer-core"
        )
        if self.owns_store:
            self.log.info("pennlayer: store at %s", self.store_root)
            self._sweep_sandbox()
            self._put_kernelspecs_first(str(manager.store.kernels_dir))
        else:
            self.log.info("pennlayer: the layers of the node service at %s", self.node_service_url)
            self._add_node_kernelspecs(manager)

    def _add_node_kernelspecs(self, manager: Any) -> None:
        """Put the node service's kernelspec folder on this server's kernelspec path, so
        the Launcher shows the node's environments (the service writes them there)."""
        try:
            store_root = manager.node_info()["store_root"]
        except (PennLayerError, KeyError, TypeError) as exc:
            self.log.warning(
                "pennlayer: the node service's environments are not in the Launcher: %s",
                getattr(exc, "message", exc),
            )
            return
        self._put_kernelspecs_first(node_kernelspec_dir(str(store_root)))

    def _put_kernelspecs_first(self, folder: str) -> None:
        """Look for kernelspecs in the store's own folder before any other, so that a
        ``pennlayer-<env>`` spec another store wrote under the same name (in the user's
        Jupyter data folder, say) never starts a kernel of this server."""
        kernel_dirs = self.serverapp.kernel_spec_manager.kernel_dirs
        if folder in kernel_dirs:
            kernel_dirs.remove(folder)
        kernel_dirs.insert(0, folder)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await super()._start_jupyter_server_extension(serverapp)
        if not hasattr(self, "_manager"):
            return  # not loaded (an invalid setting): jupyter_server starts it all the same
        self._watcher = asyncio.create_task(self._watch())
        if not self.owns_store:
            return  # the node service checks and tiers its store itself
        await asyncio.to_thread(self._manager.keep_worker_ready, self.spare_worker)
        self._verifier = asyncio.create_task(self._verify_periodically())
        self._tierer = asyncio.create_task(self._tier_periodically())

    async def stop_extension(self) -> None:
        # Settings that failed to load leave nothing started: then there is nothing to stop.
        tasks = ("_watcher", "_verifier", "_tierer")
        for task in (getattr(self, name, None) for name in tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if hasattr(self, "_manager"):
            try:
                await asyncio.to_thread(self._manager.stop_workers)
            except Exception:  # never block the stop (a full disk): the next start recovers
                self.log.exception("pennlayer: stopping the job workers failed")
            self.core_executor.shutdown(wait=False, cancel_futures=True)
        await super().stop_extension()

    async def _verify_periodically(self) -> None:
        """Check every mountable version's digest now and then, in a separate process."""
        if self.verify_interval_hours <= 0:
            return
        store = self.store_root
        while True:
            await asyncio.sleep(self.verify_interval_hours * 3600)
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pennlayer_ext.core.verifier",
                store,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, errors = await process.communicate()
            except asyncio.CancelledError:
                with contextlib.suppress(ProcessLookupError):  # it may have just ended
                    process.kill()
                await process.wait()
                raise
            for line in errors.decode("utf-8", "replace").splitlines():
                self.log.warning("%s", line)

    async def _tier_periodically(self) -> None:
        """Apply the tier policy now and then (core/tiering.py); report every decision."""
        if self.tier_interval_hours <= 0:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tier_interval_hours * 3600)
            try:
                decisions = await loop.run_in_executor(
                    self.core_executor, self._manager.apply_tier_policy
                )
            except Exception:
                self.log.exception("pennlayer: the tier policy failed; it runs again later")
                continue
            for decision in decisions:
                self.log.info(
                    "pennlayer: tier policy: %s %s: %s",
                    decision["action"],
                    decision["layer"],
                    decision["reason"],
                )
                self.serverapp.event_logger.emit(schema_id=EVENT_TIER, data=tier_event(decision))

    async def _watch(self) -> None:
        """Turn job and layer changes of this node (any process) into events."""
        kernel_manager = self.serverapp.kernel_manager
        watcher = ChangeWatcher(self._manager, lambda: list(kernel_manager.list_kernel_ids()))
        failing = ""  # what the last poll said went wrong ("" while polls succeed)
        while True:
            try:
                events = await asyncio.to_thread(watcher.poll)
                if failing:
                    self.log.info("pennlayer: watching jobs works again")
                    failing = ""
                for schema_id, data in events:
                    self.serverapp.event_logger.emit(schema_id=schema_id, data=data)
            except PennLayerError as exc:
                # Said once, not once a second: a node service that restarts for an
                # upgrade would fill every person's server log with the same lines.
                if exc.message != failing:
                    self.log.warning("pennlayer: watching jobs failed: %s Retrying.", exc.message)
                    failing = exc.message
            except Exception:
                self.log.exception("pennlayer: watching jobs failed; retrying")
                failing = "unexpected"
            await asyncio.sleep(self.job_poll_interval)

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers

        self.handlers.extend(default_handlers)


main = launch_new_instance = PennLayerApp.launch_instance
