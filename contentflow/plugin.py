"""The plugin contract (``Plugin``, ``NavItem``, ``admin_blueprint``, ``plugin_job``) and ``load_plugins``.

A plugin is a package under ``plugins/`` exposing ``plugin = Plugin(...)``. It declares:

- ``blueprints``: one per URL family the seeds fixed, each named ``<plugin>`` or ``<plugin>_<suffix>``,
  under any URL prefix (``/byop``, ``/api/byop``, ``/partners``...). ``admin_blueprint`` makes one whose
  every route is behind the core's admin login. A blueprint name or a URL already served by the core or
  another plugin stops start-up, naming both owners.
- ``nav``: menu entries (``NavItem``), each with an audience and an optional ``visible`` rule (sub-flags).
- ``jobs`` (declared with ``plugin_job``, which re-checks the flag when the job runs) and ``schedules``.
- ``slots`` and ``hooks``: what it fills of the core's extension points (``contentflow.extension_points``).
- ``setup(app)``: optional, for filters or CLI commands.

Its models live in ``plugins/<name>/models.py``: imported for every declared plugin, flag on or off (flags
gate behaviour, never schema: one schema, one Alembic history), their tables named ``<name>_...``. Its
templates live in ``plugins/<name>/templates/<name>/``. Flag off means absent: no blueprint, no template,
no menu entry, no slot, no hook answer, no schedule, and its queued jobs do nothing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from flask import Blueprint, Flask, current_app
from jinja2 import ChoiceLoader, FileSystemLoader

from contentflow.auth import mark_admin_area, refuse_non_admins
from contentflow.extension_points import ExtensionRegistry, install_registry
from contentflow.queueing import JobCatalog, Schedule, job
from plugins import FLAGS

log = logging.getLogger(__name__)

REGISTRY_KEY = "contentflow.plugins"
CORE_NAV_KEY = "contentflow.core_nav"
#: ``<name>`` or ``<name>_<suffix>``: the blueprint names a plugin may use.
BLUEPRINT_NAME = "{name}(_[a-z0-9]+)*"


class PluginError(RuntimeError):
    """A plugin declaration breaks the contract; start-up stops."""


@dataclass(frozen=True)
class NavItem:
    """A menu entry: ``label`` (a lazy gettext string), the ``endpoint`` it links to, who sees it, and an
    optional ``visible()`` rule read at render time (a sub-flag, a partner's state)."""

    label: Any
    endpoint: str
    audience: Literal["partner", "admin"] = "partner"
    order: int = 100
    visible: Callable[[], bool] | None = None

    def is_visible(self) -> bool:
        return self.visible is None or bool(self.visible())


def flag_is_on(name: str) -> Callable[[], bool]:
    """A ``visible`` rule: whether the boolean setting ``name`` (a sub-flag) is on in the current app."""
    return lambda: bool(current_app.config.get(name))


@dataclass(frozen=True)
class Plugin:
    """A feature plugin's declaration; see the module docstring and STYLE.md "The plugin contract".

    ``flag`` comes from ``plugins.FLAGS`` (the one list); only a plugin outside that list (a test fixture)
    names its own.
    """

    name: str
    blueprints: tuple[Blueprint, ...] = ()
    nav: tuple[NavItem, ...] = ()
    jobs: tuple[Callable[..., Any], ...] = ()
    schedules: tuple[Schedule, ...] = ()
    slots: Mapping[str, Callable[..., str]] = field(default_factory=dict)
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    setup: Callable[[Flask], None] | None = None
    flag: str = ""

    def __post_init__(self) -> None:
        listed = FLAGS.get(self.name)
        if self.flag and listed and self.flag != listed:
            raise PluginError(f"plugin {self.name}: flag must be {listed} (plugins.FLAGS), not {self.flag}")
        object.__setattr__(self, "flag", self.flag or listed or "")
        if not self.flag:
            raise PluginError(f"plugin {self.name} is not in plugins.FLAGS: give its flag=")
        object.__setattr__(self, "slots", MappingProxyType(dict(self.slots)))
        object.__setattr__(self, "hooks", MappingProxyType(dict(self.hooks)))


def admin_blueprint(name: str, import_name: str, url_prefix: str | None = None, **options: Any) -> Blueprint:
    """A blueprint of the admin area: every route behind the core's admin login (anonymous visitors get
    the admin sign-in page, partners 403), whatever its URL prefix (``/ops``, ``/admin/monitoring``)."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, **options)
    blueprint.before_request(refuse_non_admins)
    return mark_admin_area(blueprint)


def plugin_job(plugin_name: str, queue: str, *, retry: Any = None, timeout: int = 600) -> Callable:
    """``queueing.job`` for a plugin: when it runs, the job re-checks its plugin's flag; off, it logs and
    does nothing (a job queued while the flag was on must not act once it is off)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not plugin_registry().is_enabled(plugin_name):
                log.info("job %s skipped: plugin %s is off", func.__name__, plugin_name)
                return None
            return func(*args, **kwargs)

        job(queue, retry=retry, timeout=timeout)(guarded)
        guarded.plugin_name = plugin_name  # type: ignore[attr-defined]
        return guarded

    return decorate


@dataclass
class PluginRegistry:
    """What ``load_plugins`` found: every declared plugin, the enabled ones, and where each lives."""

    declared: dict[str, Plugin] = field(default_factory=dict)
    enabled: dict[str, Plugin] = field(default_factory=dict)
    #: Plugin name -> its module name (``plugins.publish``) and package folder.
    modules: dict[str, str] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)

    def is_enabled(self, name: str) -> bool:
        return name in self.enabled


# --- checks ------------------------------------------------------------------------------------------


def check_plugin(plugin: Plugin, module_name: str) -> None:
    """Refuse a declaration that breaks the one-word naming rule. Raises PluginError."""
    package = module_name.rsplit(".", 1)[-1]
    if plugin.name != package:
        raise PluginError(f"{module_name}: plugin name {plugin.name!r} must be its package name {package!r}")
    if not plugin.flag.startswith("FEATURE_"):
        raise PluginError(f"plugin {plugin.name}: flag {plugin.flag} must start with FEATURE_")
    allowed = re.compile(BLUEPRINT_NAME.format(name=re.escape(plugin.name)))
    for blueprint in plugin.blueprints:
        if not allowed.fullmatch(blueprint.name):
            raise PluginError(
                f"plugin {plugin.name}: blueprint is named {blueprint.name!r}, must be {plugin.name!r} "
                f"or {plugin.name}_<suffix>"
            )
    own = {blueprint.name for blueprint in plugin.blueprints}
    for item in plugin.nav:
        if item.endpoint.rpartition(".")[0] not in own:
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
                f"plugin {plugin.name}: nav endpoint {item.endpoint} is not a route of its blueprints"
            )


def _rule_shape(rule: str) -> str:
    """``/byop/<int:id>/`` -> ``/byop/<>``: two rules of one shape answer the same URLs."""
    return re.sub(r"<[^>]+>", "<>", rule).rstrip("/") or "/"


def _owner_of(endpoint: str, owners: Mapping[str, str]) -> str:
    return owners.get(endpoint.rpartition(".")[0], "core")


def register_blueprints(app: Flask, plugin: Plugin, owners: dict[str, str]) -> None:
    """Register the plugin's blueprints on ``app``, refusing a blueprint name or a URL (same path shape
    and method) that the core or another plugin already has. Raises PluginError naming both."""
    taken: dict[tuple[str, str], tuple[str, str]] = {}
    for rule in app.url_map.iter_rules():
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            taken[(_rule_shape(rule.rule), method)] = (_owner_of(rule.endpoint, owners), rule.rule)
    for blueprint in plugin.blueprints:
        if blueprint.name in app.blueprints:
            other = owners.get(blueprint.name, "core")
            raise PluginError(f"plugin {plugin.name}: blueprint name {blueprint.name!r} is taken by {other}")
        owners[blueprint.name] = f"plugin {plugin.name}"
        app.register_blueprint(blueprint)
    own = {blueprint.name for blueprint in plugin.blueprints}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.rpartition(".")[0] not in own:
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            clash = taken.get((_rule_shape(rule.rule), method))
            if clash is not None:
                raise PluginError(
                    f"plugin {plugin.name}: {method} {rule.rule} collides with {clash[1]} of {clash[0]}"
                )


# --- models and templates ----------------------------------------------------------------------------


def import_models(registry: PluginRegistry, model_base: Any = None) -> None:
    """Import ``<plugin module>.models`` of every declared plugin, flag on or off, and check that each
    plugin's tables (of ``model_base``, default ``db.Model``) are named ``<plugin>_...`` and that every
    other table is the core's. Idempotent. Raises PluginError."""
    from contentflow.extensions import db

    model_base = model_base or db.Model
    for module_name in registry.modules.values():
        is_package = hasattr(importlib.import_module(module_name), "__path__")
        if is_package and importlib.util.find_spec(f"{module_name}.models") is not None:
            importlib.import_module(f"{module_name}.models")
    core_tables: set[str] = set()
    for mapper in model_base.registry.mappers:
        module = mapper.class_.__module__
        owner = next((n for n, m in registry.modules.items() if module.startswith(m + ".")), None)
        for table in mapper.tables:
            if owner is None:
                core_tables.add(table.name)
            elif not table.name.startswith(f"{owner}_"):
                raise PluginError(f"plugin {owner}: table {table.name!r} must be named {owner}_...")
    for table_name in model_base.metadata.tables:
        if table_name not in core_tables and not any(
            table_name.startswith(f"{n}_") for n in registry.modules
        ):
            raise PluginError(
                f"table {table_name!r} belongs neither to the core nor to a plugin (<plugin>_...)"
            )


def template_folder(registry: PluginRegistry, name: str) -> Path | None:
    """``plugins/<name>/templates`` when the plugin has one. Raises PluginError when it holds anything
    but the ``<name>/`` folder (a plugin's templates are ``<name>/...``: it cannot shadow another's)."""
    folder = registry.folders[name] / "templates"
    if not folder.is_dir():
        return None
    strays = sorted(entry.name for entry in folder.iterdir() if entry.name != name)
    if strays:
        raise PluginError(f"plugin {name}: templates/ may only hold {name}/, found {', '.join(strays)}")
    return folder


def install_template_loader(app: Flask, registry: PluginRegistry) -> None:
    """The core's templates first, then each enabled plugin's ``templates/`` folder."""
    folders = [template_folder(registry, name) for name in registry.enabled]
    loaders = [FileSystemLoader(str(folder)) for folder in folders if folder is not None]
    core = [FileSystemLoader(str(Path(app.root_path, app.template_folder)))] if app.template_folder else []
    app.jinja_loader = ChoiceLoader([*core, *loaders])  # type: ignore[assignment]


# --- loading -----------------------------------------------------------------------------------------


def load_plugins(app: Flask, module_names: Iterable[str]) -> PluginRegistry:
    """Import each plugin module, check it, import every declared plugin's models, and register the
    enabled ones on ``app``: blueprints, templates, slots and hooks, then ``setup``.

    Raises PluginError (fail fast) on a broken declaration, a collision or a missing flag value.
    """
    registry = PluginRegistry()
    for module_name in module_names:
        module = importlib.import_module(module_name)
        plugin = getattr(module, "plugin", None)
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{module_name} has no `plugin = Plugin(...)`")
        check_plugin(plugin, module_name)
        if plugin.name in registry.declared:
            raise PluginError(f"plugin {plugin.name} declared twice")
        flag_value = app.config.get(plugin.flag)
        if not isinstance(flag_value, bool):
            raise PluginError(f"plugin {plugin.name}: {plugin.flag} has no boolean value")
        registry.declared[plugin.name] = plugin
        registry.modules[plugin.name] = module_name
        registry.folders[plugin.name] = Path(module.__file__ or ".").resolve().parent
        if flag_value:
            registry.enabled[plugin.name] = plugin
    import_models(registry)
    app.extensions[REGISTRY_KEY] = registry
    owners = {name: "core" for name in app.blueprints}
    extensions = ExtensionRegistry()
    for plugin in registry.enabled.values():
        register_blueprints(app, plugin, owners)
        check_nav_endpoints(app, plugin)
        try:
            extensions.add(plugin.name, dict(plugin.slots), dict(plugin.hooks))
        except LookupError as error:
            raise PluginError(str(error)) from None
    install_template_loader(app, registry)
    install_registry(app, extensions)
    for plugin in registry.enabled.values():
        if plugin.setup is not None:
            plugin.setup(app)
    return registry


def job_catalog_for(
    registry: PluginRegistry, core_jobs: Iterable[Callable], core_schedules: Iterable[Schedule]
) -> JobCatalog:
    """Every job by name (the core's and every declared plugin's), which are switched off, and the
    schedules of the core and the enabled plugins. Raises PluginError when two jobs share a name."""
    jobs: dict[str, Callable] = {}
    owners: dict[str, str] = {}
    switched_off: set[str] = set()
    sources = [("core", tuple(core_jobs))] + [(n, p.jobs) for n, p in registry.declared.items()]
    for owner, functions in sources:
        for fn in functions:
            if fn.__name__ in jobs and jobs[fn.__name__] is not fn:
                raise PluginError(f"job name {fn.__name__} is used by {owners[fn.__name__]} and by {owner}")
            jobs[fn.__name__], owners[fn.__name__] = fn, owner
            if owner != "core" and owner not in registry.enabled:
                switched_off.add(fn.__name__)
    schedules = [*core_schedules, *(s for p in registry.enabled.values() for s in p.schedules)]
    return JobCatalog(jobs=jobs, schedules=tuple(schedules), switched_off=frozenset(switched_off))


def has_endpoint(endpoint: str, app: Flask | None = None) -> bool:
    """Whether ``endpoint`` is served by the app: how a page links to another plugin's page only when
    that plugin is on, without importing it."""
    return endpoint in (app or current_app).view_functions


def plugin_registry(app: Flask | None = None) -> PluginRegistry:
    """What ``load_plugins`` found for ``app`` (default: the current app)."""
    return (app or current_app).extensions[REGISTRY_KEY]


def nav_items(audience: str, app: Flask | None = None) -> list[NavItem]:
    """Visible menu entries for ``audience``: the core's own (always on), then the enabled plugins', in
    order."""
    app = app or current_app
    core = [item for item in app.extensions.get(CORE_NAV_KEY, ()) if item.audience == audience]
    plugin_items = [
        item
        for plugin in plugin_registry(app).enabled.values()
        for item in plugin.nav
        if item.audience == audience
    ]
    return sorted((i for i in [*core, *plugin_items] if i.is_visible()), key=lambda item: item.order)
