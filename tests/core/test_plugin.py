"""The plugin contract: ``load_plugins`` refuses a broken declaration, registers several blueprints per
plugin without collisions, checks table names and template folders, and wires slots and hooks."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Blueprint, Flask
from sqlalchemy import Column, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, mapped_column

from contentflow.jobs import CORE_JOBS, CORE_SCHEDULES, purge_expired_magic_links
from contentflow.plugin import (
    NavItem,
    Plugin,
    PluginError,
    PluginRegistry,
    admin_blueprint,
    import_models,
    job_catalog_for,
    load_plugins,
    plugin_job,
)
from contentflow.queueing import Schedule, ScheduleError, job
from tests.fixtures.sample.jobs import touch_sample


@plugin_job("widget", "default")
def count_widgets() -> str:
    return "counted"


@plugin_job("widget", "default")
def sweep_widgets() -> str:
    return "swept"


@plugin_job("gadget", "default")
def count_gadgets() -> str:
    return "gadgets"


@job("default")
def core_only_job() -> str:
    return "core"


def widget_blueprint(name: str = "widget", prefix: str = "/widget", rule: str = "/") -> Blueprint:
    blueprint = Blueprint(name, __name__, url_prefix=prefix)
    blueprint.add_url_rule(rule, "home", lambda: "widgets")
    return blueprint


@pytest.fixture
def declare(monkeypatch) -> Callable[..., str]:
    """Put a plugin module ``fake_plugins.<package>`` in place; returns its module name."""

    def build(package: str = "widget", **fields: Any) -> str:
        fields.setdefault("name", package)
        fields.setdefault("flag", f"FEATURE_{fields['name'].upper()}")
        fields.setdefault("blueprints", (widget_blueprint(fields["name"], f"/{fields['name']}"),))
        module = types.ModuleType(f"fake_plugins.{package}")
        module.__file__ = __file__  # its folder (tests/core) has no templates/: none to load
        module.plugin = Plugin(**fields)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        return module.__name__

    return build


def bare_app(**config: Any) -> Flask:
    app = Flask("plugin-tests")
    app.config.update({"FEATURE_WIDGET": True, "FEATURE_GADGET": True, **config})
    return app


# --- declarations ----------------------------------------------------------------------------------


def test_load_plugins_registers_an_enabled_plugin(declare):
    app = bare_app()
    registry = load_plugins(app, [declare()])
    assert "widget" in app.blueprints
    assert registry.is_enabled("widget")


def test_load_plugins_declares_but_does_not_register_a_disabled_plugin(declare):
    app = bare_app(FEATURE_WIDGET=False)
    registry = load_plugins(app, [declare()])
    assert "widget" not in app.blueprints
    assert "widget" in registry.declared
    assert not registry.is_enabled("widget")


def test_a_plugin_takes_its_flag_from_the_one_plugin_list():
    assert Plugin(name="publish").flag == "FEATURE_PUBLISH"
    assert Plugin(name="support").flag == "FEATURE_SUPPORTBOT"


def test_a_plugin_of_the_list_cannot_name_another_flag():
    with pytest.raises(PluginError, match=r"flag must be FEATURE_PUBLISH \(plugins.FLAGS\)"):
        Plugin(name="publish", flag="FEATURE_PUBLISHING")


def test_a_plugin_outside_the_list_must_name_its_flag():
    with pytest.raises(PluginError, match="not in plugins.FLAGS"):
        Plugin(name="gizmo")


def test_load_plugins_registers_several_blueprints_under_any_prefix(declare):
    app = bare_app()
    blueprints = (
        widget_blueprint("widget", "/widget"),
        widget_blueprint("widget_api", "/api/widget"),
        widget_blueprint("widget_pages", "/partners", "/widgets"),
    )
    load_plugins(app, [declare(blueprints=blueprints)])
    assert {"/widget/", "/api/widget/", "/partners/widgets"} <= {r.rule for r in app.url_map.iter_rules()}


@pytest.mark.parametrize("name", ["gadget", "widgetapi", "widget-api", "widget_API"])
def test_load_plugins_refuses_a_blueprint_named_otherwise(declare, name):
    module_name = declare(blueprints=(widget_blueprint(name),))
    with pytest.raises(PluginError, match=f"blueprint is named '{name}'"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_name_different_from_its_package(declare):
    module_name = declare("gadget", name="widget")
    with pytest.raises(PluginError, match="must be its package name 'gadget'"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_flag_without_the_feature_prefix(declare):
    module_name = declare(flag="WIDGET_ON")
    with pytest.raises(PluginError, match="must start with FEATURE_"):
        load_plugins(bare_app(WIDGET_ON=True), [module_name])


def test_load_plugins_refuses_a_flag_without_a_boolean_value(declare):
    module_name = declare()
    with pytest.raises(PluginError, match="FEATURE_WIDGET has no boolean value"):
        load_plugins(bare_app(FEATURE_WIDGET="yes"), [module_name])


def test_load_plugins_refuses_a_schedule_whose_job_is_not_in_jobs(declare):
    module_name = declare(
        jobs=(count_widgets,), schedules=(Schedule(sweep_widgets, every=timedelta(minutes=1)),)
    )
    with pytest.raises(PluginError, match="scheduled job sweep_widgets is not in jobs"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_two_schedules_of_one_job(declare):
    module_name = declare(
        jobs=(count_widgets,),
        schedules=(
            Schedule(count_widgets, every=timedelta(minutes=1)),
            Schedule(count_widgets, cron="0 3 * * *"),
        ),
    )
    with pytest.raises(PluginError, match="scheduled twice"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_nav_endpoint_of_another_plugin(declare):
    module_name = declare(nav=(NavItem("Kit", "sharekit.kit"),))
    with pytest.raises(PluginError, match="nav endpoint sharekit.kit is not its own"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_nav_endpoint_its_blueprints_do_not_serve(declare):
    module_name = declare(nav=(NavItem("Missing", "widget.missing"),))
    with pytest.raises(PluginError, match="nav endpoint widget.missing is not a route"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_accepts_a_nav_endpoint_of_any_of_its_blueprints(declare):
    app = bare_app()
    blueprints = (widget_blueprint("widget"), widget_blueprint("widget_admin", "/ops/widget"))
    load_plugins(app, [declare(blueprints=blueprints, nav=(NavItem("W", "widget_admin.home", "admin"),))])
    assert "widget_admin.home" in app.view_functions


@pytest.mark.parametrize(
    "job_function",
    [core_only_job, touch_sample, lambda: None],
    ids=["core-job", "other-plugins-job", "undecorated"],
)
def test_load_plugins_refuses_a_job_not_guarded_by_its_own_flag(declare, job_function):
    module_name = declare(jobs=(job_function,))
    with pytest.raises(PluginError, match="plugin_job"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_plugin_declared_twice(declare, monkeypatch):
    module_name = declare()
    monkeypatch.setitem(sys.modules, "other_plugins.widget", sys.modules[module_name])
    with pytest.raises(PluginError, match="declared twice"):
        load_plugins(bare_app(), [module_name, "other_plugins.widget"])


def test_load_plugins_refuses_a_module_without_a_plugin(monkeypatch):
    monkeypatch.setitem(sys.modules, "fake_plugins.empty", types.ModuleType("fake_plugins.empty"))
    with pytest.raises(PluginError, match="has no `plugin = Plugin"):
        load_plugins(bare_app(), ["fake_plugins.empty"])


# --- collisions --------------------------------------------------------------------------------------


def test_a_url_of_the_core_cannot_be_taken_by_a_plugin(declare):
    app = bare_app()
    core = Blueprint("auth", __name__)
    core.add_url_rule("/partners", "landing", lambda: "landing")
    app.register_blueprint(core)
    module_name = declare(blueprints=(widget_blueprint("widget", "/partners", "/"),))
    with pytest.raises(PluginError, match=r"plugin widget: GET /partners/ collides with /partners of core"):
        load_plugins(app, [module_name])


def test_a_url_of_another_plugin_cannot_be_taken(declare):
    first = declare("widget", blueprints=(widget_blueprint("widget", "/shared", "/<int:item>"),))
    second = declare("gadget", blueprints=(widget_blueprint("gadget", "/shared", "/<name>"),))
    with pytest.raises(
        PluginError, match=r"plugin gadget: GET /shared/<name> collides with .* of plugin widget"
    ):
        load_plugins(bare_app(), [first, second])


def test_the_same_path_with_other_methods_is_not_a_collision(declare):
    first = declare("widget", blueprints=(widget_blueprint("widget", "/shared"),))
    poster = Blueprint("gadget", __name__, url_prefix="/shared")
    poster.add_url_rule("/", "post", lambda: "posted", methods=["POST"])
    load_plugins(bare_app(), [first, declare("gadget", blueprints=(poster,))])


def test_a_blueprint_name_of_the_core_cannot_be_taken(declare):
    app = bare_app()
    app.register_blueprint(Blueprint("widget_admin", __name__))
    blueprints = (widget_blueprint("widget"), widget_blueprint("widget_admin", "/ops/widget"))
    with pytest.raises(PluginError, match="blueprint name 'widget_admin' is taken by core"):
        load_plugins(app, [declare(blueprints=blueprints)])


# --- models, templates -----------------------------------------------------------------------------


class FakeBase(DeclarativeBase):
    """Models of these tests stay out of the app's metadata."""


@pytest.fixture
def fake_models(declare) -> Callable[..., PluginRegistry]:
    """Build model classes as if defined in ``fake_plugins.widget.models``; cleaned up after."""
    registry = PluginRegistry(modules={"widget": declare()})

    def define(class_name: str, table: str, **columns: Any) -> type:
        attributes = {"__tablename__": table, "__module__": "fake_plugins.widget.models"}
        attributes["id"] = mapped_column(Integer, primary_key=True)
        return type(class_name, (FakeBase,), {**attributes, **columns})

    yield registry, define
    FakeBase.registry.dispose()
    FakeBase.metadata.clear()


def test_a_plugin_table_without_its_prefix_stops_start_up(fake_models):
    registry, define = fake_models
    define("Widget", "widgets")
    with pytest.raises(PluginError, match="plugin widget: table 'widgets' must be named widget_"):
        import_models(registry, FakeBase)


def test_a_table_of_no_one_stops_start_up(fake_models):
    registry, _define = fake_models
    Table("loose_ends", FakeBase.metadata, Column("id", Integer, primary_key=True))
    with pytest.raises(PluginError, match="table 'loose_ends' belongs neither to the core"):
        import_models(registry, FakeBase)


def test_prefixed_plugin_tables_and_core_tables_pass(fake_models):
    registry, define = fake_models
    define("WidgetPart", "widget_parts", label=mapped_column(String(10)))
    type(
        "CoreThing", (FakeBase,), {"__tablename__": "things", "id": mapped_column(Integer, primary_key=True)}
    )
    import_models(registry, FakeBase)


def test_templates_beside_the_plugin_folder_are_refused(declare, tmp_path, monkeypatch):
    (tmp_path / "templates" / "widget").mkdir(parents=True)
    (tmp_path / "templates" / "base.html").write_text("shadowing the core")
    module_name = declare()
    sys.modules[module_name].__file__ = str(tmp_path / "__init__.py")
    with pytest.raises(PluginError, match="templates/ may only hold widget/, found base.html"):
        load_plugins(bare_app(), [module_name])


def test_admin_blueprint_is_part_of_the_admin_area():
    from contentflow.auth import ADMIN_AREA

    blueprint = admin_blueprint("widget_admin", __name__, url_prefix="/ops/widget")
    assert getattr(blueprint, ADMIN_AREA) is True
    assert blueprint.before_request_funcs[None]


# --- extension points ------------------------------------------------------------------------------


def test_filling_an_unknown_slot_stops_start_up(declare):
    module_name = declare(slots={"kit.action": lambda **context: ""})
    with pytest.raises(PluginError, match="plugin widget: unknown slot 'kit.action'; slots are"):
        load_plugins(bare_app(), [module_name])


def test_answering_an_unknown_hook_stops_start_up(declare):
    module_name = declare(hooks={"holds.on_hold": lambda partner_id, now: True})
    with pytest.raises(PluginError, match="plugin widget: unknown hook 'holds.on_hold'; hooks are"):
        load_plugins(bare_app(), [module_name])


def test_a_disabled_plugin_fills_no_slot_and_answers_no_hook(declare):
    from contentflow.extension_points import REGISTRY_KEY

    app = bare_app(FEATURE_WIDGET=False)
    load_plugins(
        app,
        [declare(slots={"portal.cards": lambda **c: "x"}, hooks={"holds.is_on_hold": lambda *a, **k: True})],
    )
    assert app.extensions[REGISTRY_KEY].slots == {}
    assert app.extensions[REGISTRY_KEY].hooks == {}


# --- schedules and the job catalog ------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [{}, {"every": timedelta(minutes=5), "cron": "*/5 * * * *"}],
    ids=["neither", "both"],
)
def test_schedule_needs_exactly_one_of_every_and_cron(when):
    with pytest.raises(ScheduleError, match="exactly one of every= or cron="):
        Schedule(count_widgets, **when)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"every": timedelta(milliseconds=500)}, "at least one second"),
        ({"cron": "every day"}, "five fields"),
        ({"every": timedelta(minutes=1), "queue": "nowhere"}, "unknown queue"),
    ],
    ids=["sub-second", "bad-cron", "unknown-queue"],
)
def test_schedule_refuses_what_no_runner_can_serve(when, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule(count_widgets, **when)


def test_schedule_id_depends_on_the_job_only():
    every_five = Schedule(touch_sample, every=timedelta(minutes=5))
    nightly = Schedule(touch_sample, cron="0 3 * * *")
    assert (
        every_five.schedule_id
        == nightly.schedule_id
        == Schedule(touch_sample, every=timedelta(minutes=5)).schedule_id
    )
    assert every_five.schedule_id == "contentflow-schedule-tests-fixtures-sample-jobs-touch_sample"
    assert every_five.spec != nightly.spec


def test_core_declares_its_schedules_with_the_schedule_type():
    assert CORE_SCHEDULES
    assert all(isinstance(schedule, Schedule) for schedule in CORE_SCHEDULES)
    assert purge_expired_magic_links in [s.job for s in CORE_SCHEDULES]


def test_job_catalog_holds_every_declared_job_and_only_the_enabled_schedules(declare):
    widget = declare(jobs=(count_widgets,), schedules=(Schedule(count_widgets, every=timedelta(minutes=1)),))
    gadget = declare("gadget", jobs=(count_gadgets,))
    app = bare_app(FEATURE_WIDGET=False)
    catalog = job_catalog_for(load_plugins(app, [widget, gadget]), CORE_JOBS, CORE_SCHEDULES)
    assert catalog.get("count_widgets") is count_widgets
    assert catalog.is_switched_off("count_widgets")
    assert not catalog.is_switched_off("count_gadgets")
    assert catalog.schedules == CORE_SCHEDULES


def test_two_jobs_of_one_name_stop_start_up(declare):
    @plugin_job("gadget", "default")
    def count_widgets() -> str:  # the same name as widget's job
        return "clash"

    widget, gadget = declare(jobs=(globals()["count_widgets"],)), declare("gadget", jobs=(count_widgets,))
    registry = load_plugins(bare_app(), [widget, gadget])
    with pytest.raises(PluginError, match="job name count_widgets is used by widget and by gadget"):
        job_catalog_for(registry, CORE_JOBS, CORE_SCHEDULES)
