"""The plugin contract: ``load_plugins`` refuses a broken declaration, ``Schedule`` is checked data."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Blueprint, Flask

from contentflow.jobs import CORE_SCHEDULES, purge_expired_magic_links
from contentflow.plugin import NavItem, Plugin, PluginError, Schedule, load_plugins
from contentflow.queueing import job, plugin_job
from tests.fixtures.sample.jobs import touch_sample


@plugin_job("widget", "default")
def count_widgets() -> str:
    return "counted"


@plugin_job("widget", "default")
def sweep_widgets() -> str:
    return "swept"


@job("default")
def core_only_job() -> str:
    return "core"


def widget_blueprint(name: str = "widget") -> Blueprint:
    blueprint = Blueprint(name, __name__, url_prefix="/widget")
    blueprint.add_url_rule("/", "home", lambda: "widgets")
    return blueprint


@pytest.fixture
def declare(monkeypatch) -> Callable[..., str]:
    """Put a plugin module ``fake_plugins.<package>`` in place; returns its module name."""

    def build(package: str = "widget", **fields: Any) -> str:
        fields.setdefault("name", package)
        fields.setdefault("flag", "FEATURE_WIDGET")
        fields.setdefault("blueprint", widget_blueprint(fields["name"]))
        module = types.ModuleType(f"fake_plugins.{package}")
        module.plugin = Plugin(**fields)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        return module.__name__

    return build


def bare_app(**config: Any) -> Flask:
    app = Flask("plugin-tests")
    app.config.update({"FEATURE_WIDGET": True, **config})
    return app


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


def test_load_plugins_refuses_a_blueprint_named_differently(declare):
    module_name = declare(blueprint=widget_blueprint("gadget"))
    with pytest.raises(PluginError, match="blueprint is named 'gadget'"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_name_different_from_its_package(declare):
    module_name = declare("gadget", name="widget")
    with pytest.raises(PluginError, match="must be its package name 'gadget'"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_refuses_a_wrong_flag_for_a_known_plugin(declare):
    module_name = declare("publish", flag="FEATURE_PUBLISHING", blueprint=widget_blueprint("publish"))
    with pytest.raises(PluginError, match="flag must be FEATURE_PUBLISH"):
        load_plugins(bare_app(FEATURE_PUBLISHING=True), [module_name])


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


def test_load_plugins_refuses_a_nav_endpoint_its_blueprint_does_not_serve(declare):
    module_name = declare(nav=(NavItem("Missing", "widget.missing"),))
    with pytest.raises(PluginError, match="nav endpoint widget.missing is not a route"):
        load_plugins(bare_app(), [module_name])


def test_load_plugins_accepts_a_nav_endpoint_its_blueprint_serves(declare):
    app = bare_app()
    load_plugins(app, [declare(nav=(NavItem("Widgets", "widget.home"),))])
    assert "widget.home" in app.view_functions


@pytest.mark.parametrize(
    ("job_function", "reason"),
    [(core_only_job, "plugin_job"), (touch_sample, "plugin_job"), (lambda: None, "plugin_job")],
    ids=["core-job", "other-plugins-job", "undecorated"],
)
def test_load_plugins_refuses_a_job_not_guarded_by_its_own_flag(declare, job_function, reason):
    module_name = declare(jobs=(job_function,))
    with pytest.raises(PluginError, match=reason):
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


@pytest.mark.parametrize(
    "when",
    [{}, {"every": timedelta(minutes=5), "cron": "*/5 * * * *"}],
    ids=["neither", "both"],
)
def test_schedule_needs_exactly_one_of_every_and_cron(when):
    with pytest.raises(PluginError, match="exactly one of every= or cron="):
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
    with pytest.raises(PluginError, match=message):
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


def test_core_declares_its_schedules_with_the_plugin_schedule_type():
    assert CORE_SCHEDULES
    assert all(isinstance(schedule, Schedule) for schedule in CORE_SCHEDULES)
    assert purge_expired_magic_links in [s.job for s in CORE_SCHEDULES]
