"""The plugin contract (Plugin / NavItem / Schedule) and ``load_plugins``.

A plugin is a package under ``plugins/`` exposing ``plugin = Plugin(...)``. It is registered only when its
flag is on; off, it leaves no route, no menu entry and no schedule, and its queued jobs do nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from flask import Blueprint, Flask, current_app

from contentflow.queueing.connection import QUEUES
from contentflow.settings import PLUGIN_FLAGS

#: Every schedule's RQ job id starts with this, so reconciling never touches a job of anyone else.
SCHEDULE_ID_PREFIX = "contentflow-schedule-"


class PluginError(RuntimeError):
    """A plugin declaration breaks the contract; start-up stops."""


@dataclass(frozen=True)
class NavItem:
    """A menu entry: ``label`` (a lazy gettext string), the ``endpoint`` it links to, who sees it."""

    label: Any
    endpoint: str
    audience: Literal["partner", "admin"] = "partner"
    order: int = 100


@dataclass(frozen=True)
class Schedule:
    """A job to run periodically: every ``every``, or on a five-field ``cron`` string (UTC), on ``queue``.

    Library-neutral data: rq-scheduler serves it today, RQ's own cron could tomorrow. Raises PluginError
    for a declaration no runner could serve.
    """

    job: Callable[..., Any]
    every: timedelta | None = None
    cron: str | None = None
    queue: str = "periodic"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise PluginError(f"schedule of {self.job_name}: give exactly one of every= or cron=")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise PluginError(f"schedule of {self.job_name}: every= must be at least one second")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise PluginError(f"schedule of {self.job_name}: cron={self.cron!r} needs five fields")
        if self.queue not in QUEUES:
            raise PluginError(f"schedule of {self.job_name}: unknown queue {self.queue!r}")

    @property
    def job_name(self) -> str:
        return getattr(self.job, "__name__", repr(self.job))

    @property
    def job_path(self) -> str:
        return f"{self.job.__module__}.{self.job.__qualname__}"

    @property
    def schedule_id(self) -> str:
        """Deterministic id: a restart finds the same schedule instead of adding a second one.

        RQ accepts only letters, digits, ``_`` and ``-`` in a job id; dots become dashes (a Python
        module or function name never holds a dash, so two paths cannot meet).
        """
        return SCHEDULE_ID_PREFIX + self.job_path.replace(".", "-")

    @property
    def spec(self) -> str:
        """What the schedule says, compared at reconcile time to spot a changed declaration."""
        when = f"every={int(self.every.total_seconds())}s" if self.every else f"cron={self.cron}"
        return f"{self.job_path}|{when}|{self.queue}"


@dataclass(frozen=True)
class Plugin:
    """A feature plugin's declaration; see STYLE.md "The plugin contract"."""

    name: str
    flag: str
    blueprint: Blueprint
    nav: tuple[NavItem, ...] = ()
    jobs: tuple[Callable[..., Any], ...] = ()
    schedules: tuple[Schedule, ...] = ()
    templates: str | None = None
    setup: Callable[[Flask], None] | None = None

    @property
    def template_folder(self) -> str:
        return self.templates or self.name


@dataclass
class PluginRegistry:
    """What ``load_plugins`` found: every declared plugin, and the ones whose flag is on."""

    declared: dict[str, Plugin] = field(default_factory=dict)
    enabled: dict[str, Plugin] = field(default_factory=dict)

    def is_enabled(self, name: str) -> bool:
        return name in self.enabled


def check_plugin(plugin: Plugin, module_name: str, expected_flag: str | None) -> None:
    """Refuse a declaration that breaks the one-word naming rule. Raises PluginError."""
    package = module_name.rsplit(".", 1)[-1]
    if plugin.name != package:
        raise PluginError(f"{module_name}: plugin name {plugin.name!r} must be its package name {package!r}")
    if plugin.blueprint.name != plugin.name:
        raise PluginError(
            f"plugin {plugin.name}: blueprint is named {plugin.blueprint.name!r}, must be {plugin.name!r}"
        )
    if expected_flag and plugin.flag != expected_flag:
        raise PluginError(f"plugin {plugin.name}: flag must be {expected_flag}, not {plugin.flag}")
    if not plugin.flag.startswith("FEATURE_"):
        raise PluginError(f"plugin {plugin.name}: flag {plugin.flag} must start with FEATURE_")
    for item in plugin.nav:
        if not item.endpoint.startswith(plugin.name + "."):
            raise PluginError(f"plugin {plugin.name}: nav endpoint {item.endpoint} is not its own")
    for fn in plugin.jobs:
        # Only the plugin_job guard makes a job queued while the flag was on do nothing once it is off.
        if getattr(fn, "plugin_name", None) != plugin.name:
            raise PluginError(
                f"plugin {plugin.name}: job {getattr(fn, '__name__', fn)!r} must be declared with "
                f"@plugin_job({plugin.name!r}, queue)"
            )
    scheduled: set[str] = set()
    for schedule in plugin.schedules:
        if schedule.job not in plugin.jobs:
            raise PluginError(f"plugin {plugin.name}: scheduled job {schedule.job_name} is not in jobs")
        if schedule.schedule_id in scheduled:
            raise PluginError(f"plugin {plugin.name}: job {schedule.job_name} is scheduled twice")
        scheduled.add(schedule.schedule_id)


def check_nav_endpoints(app: Flask, plugin: Plugin) -> None:
    """Once registered, every nav entry must name a route, or every page would fail to render."""
    for item in plugin.nav:
        if item.endpoint not in app.view_functions:
            raise PluginError(
                f"plugin {plugin.name}: nav endpoint {item.endpoint} is not a route of its blueprint"
            )


def load_plugins(app: Flask, module_names: Iterable[str]) -> PluginRegistry:
    """Import each plugin module, check it, and register the enabled ones on ``app``.

    Raises PluginError (fail fast) on a broken declaration or a missing flag value.
    """
    registry = PluginRegistry()
    for module_name in module_names:
        module = importlib.import_module(module_name)
        plugin = getattr(module, "plugin", None)
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{module_name} has no `plugin = Plugin(...)`")
        check_plugin(plugin, module_name, PLUGIN_FLAGS.get(plugin.name))
        if plugin.name in registry.declared:
            raise PluginError(f"plugin {plugin.name} declared twice")
        registry.declared[plugin.name] = plugin
        flag_value = app.config.get(plugin.flag)
        if not isinstance(flag_value, bool):
            raise PluginError(f"plugin {plugin.name}: {plugin.flag} has no boolean value")
        if flag_value:
            registry.enabled[plugin.name] = plugin
            app.register_blueprint(plugin.blueprint)
            check_nav_endpoints(app, plugin)
            if plugin.setup is not None:
                plugin.setup(app)
    app.extensions["contentflow.plugins"] = registry
    return registry


def plugin_registry(app: Flask | None = None) -> PluginRegistry:
    """What ``load_plugins`` found for ``app`` (default: the current app)."""
    return (app or current_app).extensions["contentflow.plugins"]


CORE_NAV_KEY = "contentflow.core_nav"


def nav_items(audience: str, app: Flask | None = None) -> list[NavItem]:
    """Menu entries for ``audience``: the core's own (always on), then the enabled plugins', in order."""
    app = app or current_app
    core = [item for item in app.extensions.get(CORE_NAV_KEY, ()) if item.audience == audience]
    plugin_items = [
        item
        for plugin in plugin_registry(app).enabled.values()
        for item in plugin.nav
        if item.audience == audience
    ]
    return sorted([*core, *plugin_items], key=lambda item: item.order)
