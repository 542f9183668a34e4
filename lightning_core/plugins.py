"""Find, load and register plugins; the one place that talks to pluggy and stevedore."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy

from lightning_core import hookspecs
from lightning_core._markers import PROJECT_NAME
from lightning_core.context import ImportContext, TableSummary
from lightning_core.errors import PluginError
from lightning_core.registry import Kind, Registry

ENTRY_POINT_GROUP = "lightning.plugins"
STRICT_ENV = "LIGHTNING_STRICT_PLUGINS"

log = logging.getLogger(__name__)

_REGISTRATION_HOOKS: tuple[tuple[Kind, str], ...] = (
    ("backend", "lightning_register_backends"),
    ("source_reader", "lightning_register_source_readers"),
    ("encoder", "lightning_register_encoders"),
    ("conflict_strategy", "lightning_register_conflict_strategies"),
    ("checkpoint_store", "lightning_register_checkpoint_stores"),
)


@attrs.frozen(kw_only=True)
class LoadedPlugin:
    """A plugin module and where it came from."""

    name: str
    """Entry-point name (or ``builtin.<module>``)."""
    distribution: str
    version: str
    module: ModuleType


@attrs.frozen(kw_only=True)
class LoadFailure:
    """A plugin whose entry point could not be loaded."""

    name: str
    distribution: str
    version: str
    error: str

    @property
    def origin(self) -> str:
        """``distribution==version[entry]``, the way a user finds the culprit."""
        return f"{self.distribution}=={self.version}[{self.name}]"


def strict_from_env() -> bool:
    """True when ``LIGHTNING_STRICT_PLUGINS`` asks that every load failure be fatal."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """The plugin manager facade: one method per hook, so the pipeline never calls pluggy."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: list[LoadedPlugin] = []
        self.failures: list[LoadFailure] = []
        self.registry = Registry()

    def register(self, plugin: LoadedPlugin) -> None:
        """Register one plugin module with pluggy."""
        self._pm.register(plugin.module, name=plugin.name)
        self.plugins.append(plugin)

    def finish(self, strict: bool = False) -> None:
        """Check every hook implementation against the contract, then fill the registry.

        A registration hook that raises is a load failure of its plugin (fatal when strict).
        """
        self._check_hook_names()
        by_name = {p.name: p for p in self.plugins}
        for kind, hook_name in _REGISTRATION_HOOKS:
            caller = getattr(self._pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                plugin = by_name[impl.plugin_name]
                origin = f"{plugin.distribution}=={plugin.version}"
                try:
                    records = list(impl.function() or ())
                except Exception as exc:
                    failure = LoadFailure(
                        name=plugin.name,
                        distribution=plugin.distribution,
                        version=plugin.version,
                        error=f"{hook_name} raised {exc!r}",
                    )
                    if strict:
                        raise PluginError(
                            f"plugin {failure.origin} failed: {failure.error} ({STRICT_ENV} is "
                            "set); fix or uninstall it, or unset the variable"
                        ) from exc
                    log.warning("plugin %s failed: %s", failure.origin, failure.error)
                    self.failures.append(failure)
                    continue
                self.registry.add_all(kind, records, origin)
        self.registry.load_failures.update({f.origin: f.error for f in self.failures})

    def _check_hook_names(self) -> None:
        """A hook function whose name is not in the contract is a typo: stop, name the plugin."""
        known = [name for name in dir(hookspecs) if name.startswith("lightning_")]
        for plugin in self.plugins:
            for name in dir(plugin.module):
                function = getattr(plugin.module, name)
                if not name.startswith("lightning_") or name in known or not callable(function):
                    continue
                if not hasattr(function, f"{PROJECT_NAME}_impl"):
                    continue
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PluginError(
                    f"plugin {plugin.distribution}=={plugin.version}[{plugin.name}] implements "
                    f"{name!r}, which is not a lightning hook{hint}"
                )
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{exc}; the plugin implements a hook that does not exist") from exc

    def validate_options(self, config: Any, source: str | None = None) -> dict[str, Any]:
        """Second configuration pass: see ``validate_plugin_options``."""
        return validate_plugin_options(self.registry, config, source)

    def hooks_of(self, plugin: LoadedPlugin) -> list[str]:
        """Names of the hooks a plugin implements."""
        callers = self._pm.get_hookcallers(plugin.module) or []
        return sorted(caller.name for caller in callers)

    def before_import(self, context: ImportContext) -> None:
        """Run ``lightning_before_import`` of every plugin."""
        self._pm.hook.lightning_before_import(context=context)

    def after_table(self, context: ImportContext, table: TableSummary) -> None:
        """Run ``lightning_after_table`` of every plugin."""
        self._pm.hook.lightning_after_table(context=context, table=table)

    def on_table_error(self, context: ImportContext, table: str, error: BaseException) -> None:
        """Run ``lightning_on_table_error`` of every plugin."""
        self._pm.hook.lightning_on_table_error(context=context, table=table, error=error)

    def after_import(self, context: ImportContext, tables: list[TableSummary]) -> None:
        """Run ``lightning_after_import`` of every plugin."""
        self._pm.hook.lightning_after_import(context=context, tables=tables)


def validate_plugin_options(
    registry: Registry, config: Any, source: str | None = None
) -> dict[str, Any]:
    """Each ``[plugin.<name>]`` table validated by its component's ``options_type``.

    Returns the validated options by component name; a table for a component that is not
    installed, or that takes no options, is a ``ConfigError``.
    """
    from lightning_core.config import plugin_options
    from lightning_core.errors import ConfigError
    from lightning_core.registry import KINDS

    types = {
        entry.record.name: entry.record.options_type
        for kind in KINDS
        for entry in registry.entries(kind)
        if entry.record.options_type is not None
    }
    validated: dict[str, Any] = {}
    for name in config.plugin:
        options_type = types.get(name)
        if options_type is None:
            known = ", ".join(sorted(types)) or "none"
            where = f"{source}: " if source else ""
            raise ConfigError(
                f"{where}[plugin.{name}] configures no installed component that takes "
                f"options (components with options: {known}); fix the name, install the "
                "plugin or remove the table"
            )
        validated[name] = plugin_options(config, name, options_type, source=source)
    return validated


def _builtin_plugins() -> Iterable[LoadedPlugin]:
    from lightning_core import __version__, builtin

    for module in builtin.MODULES:
        yield LoadedPlugin(
            name=f"builtin.{module.__name__.rsplit('.', 1)[-1]}",
            distribution="tidb-lightning",
            version=__version__,
            module=module,
        )


def _entry_point_owners() -> dict[tuple[str, str], tuple[str, str]]:
    """(entry-point name, value) → (distribution, version) for our group.

    stevedore hands out entry points rebuilt from its cache, without their distribution, so
    the owners are looked up from the installed distributions' metadata.
    """
    from importlib.metadata import distributions

    owners: dict[tuple[str, str], tuple[str, str]] = {}
    for dist in distributions():
        for entry_point in dist.entry_points:
            if entry_point.group == ENTRY_POINT_GROUP:
                owners[(entry_point.name, entry_point.value)] = (
                    dist.metadata["Name"] or "unknown-distribution",
                    dist.version,
                )
    return owners


def load_plugins(strict: bool | None = None) -> PluginHost:
    """Build the plugin host: built-ins first, then every ``lightning.plugins`` entry point.

    A plugin whose import fails is recorded in ``host.failures`` and logged as a warning; with
    ``strict`` (default: the ``LIGHTNING_STRICT_PLUGINS`` environment variable) it is an error.
    """
    from stevedore import ExtensionManager

    strict = strict_from_env() if strict is None else strict
    owners = _entry_point_owners()

    def _distribution_of(entry_point: Any) -> tuple[str, str]:
        return owners.get((entry_point.name, entry_point.value), ("unknown-distribution", "?"))

    host = PluginHost()
    for plugin in _builtin_plugins():
        host.register(plugin)

    def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        dist, version = _distribution_of(entry_point)
        failure = LoadFailure(
            name=entry_point.name, distribution=dist, version=version, error=repr(exc)
        )
        host.failures.append(failure)
        log.warning("plugin %s failed to load: %r", failure.origin, exc)

    manager = ExtensionManager(
        namespace=ENTRY_POINT_GROUP,
        invoke_on_load=False,
        on_load_failure_callback=on_failure,
    )
    for extension in sorted(manager.extensions, key=lambda e: e.name):
        dist, version = _distribution_of(extension.entry_point)
        module = extension.plugin
        if not isinstance(module, ModuleType):
            host.failures.append(
                LoadFailure(
                    name=extension.name,
                    distribution=dist,
                    version=version,
                    error=f"entry point names {module!r}, not a module of hook functions",
                )
            )
            continue
        plugin = LoadedPlugin(
            name=extension.name, distribution=dist, version=version, module=module
        )
        try:
            host.register(plugin)
        except pluggy.PluginValidationError as exc:  # a hook with the wrong arguments
            host.failures.append(
                LoadFailure(name=plugin.name, distribution=dist, version=version, error=str(exc))
            )
    if strict and host.failures:
        failed = "; ".join(f"{f.origin}: {f.error}" for f in host.failures)
        raise PluginError(
            f"plugins failed to load ({STRICT_ENV} is set): {failed}; "
            "fix or uninstall them, or unset the variable"
        )
    host.finish(strict=strict)
    return host
