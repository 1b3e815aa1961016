"""Flag off = absent: for every real plugin (and the test-only ``sample`` one, which has a page, a menu
entry, a job and a schedule), no blueprint, no route, no nav entry, no schedule, and its queued jobs do
nothing."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from flask import Flask

import plugins
from contentflow.plugin import nav_items, plugin_registry
from contentflow.queueing import enqueue
from contentflow.queueing.scheduling import declared_schedules, make_scheduler, reconcile_schedules
from contentflow.queueing.worker import make_worker
from tests.conftest import sign_in
from tests.fixtures.sample.jobs import TOUCHED_KEY, touch_sample

#: SPEC.md, "Feature flags": the seed names FEATURE_SUPPORTBOT and FEATURE_RISKBOT are kept.
SPEC_FLAGS = {
    "byop": "FEATURE_BYOP",
    "sharekit": "FEATURE_SHAREKIT",
    "publish": "FEATURE_PUBLISH",
    "earnings": "FEATURE_EARNINGS",
    "support": "FEATURE_SUPPORTBOT",
    "risk": "FEATURE_RISKBOT",
    "monitoring": "FEATURE_MONITORING",
}
REAL_PLUGINS = [f"plugins.{name}" for name in plugins.AVAILABLE]
WITH_SAMPLE = [*REAL_PLUGINS, "tests.fixtures.sample"]


def test_every_plugin_of_the_spec_is_available():
    assert sorted(plugins.AVAILABLE) == sorted(SPEC_FLAGS)


def declaration(name: str):
    return importlib.import_module(f"plugins.{name}").plugin


def plugin_endpoints(app: Flask, name: str) -> list[str]:
    return [rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{name}.")]


def plain_get_paths(app: Flask, name: str) -> list[str]:
    """The plugin's GET routes that take no argument: what a visitor could type."""
    return [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{name}.") and "GET" in rule.methods and not rule.arguments
    ]


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_declares_the_spec_flag_and_its_own_name(name):
    plugin = declaration(name)
    assert plugin.name == name
    assert plugin.flag == SPEC_FLAGS[name]
    assert plugin.blueprint.name == name


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_flag_on_registers_it(make_app, name):
    app = make_app(**{SPEC_FLAGS[name]: True})
    assert app.blueprints[name] is declaration(name).blueprint
    assert plugin_registry(app).is_enabled(name)


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_flag_off_leaves_no_blueprint_and_no_route(make_app, name):
    app_on = make_app(**{SPEC_FLAGS[name]: True})
    app_off = make_app(**{SPEC_FLAGS[name]: False})
    assert name not in app_off.blueprints
    assert not plugin_registry(app_off).is_enabled(name)
    assert plugin_endpoints(app_off, name) == []
    prefix = declaration(name).blueprint.url_prefix
    if prefix:
        assert not [rule.rule for rule in app_off.url_map.iter_rules() if rule.rule.startswith(prefix + "/")]
    client = app_off.test_client()
    for path in plain_get_paths(app_on, name):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_flag_off_leaves_no_nav_entry_and_no_schedule(make_app, name):
    app = make_app(**{SPEC_FLAGS[name]: False})
    plugin = declaration(name)
    with app.app_context():
        shown = [item.endpoint for audience in ("partner", "admin") for item in nav_items(audience)]
        scheduled = {schedule.schedule_id for schedule in declared_schedules(app)}
    assert not [endpoint for endpoint in shown if endpoint.startswith(f"{name}.")]
    assert not scheduled & {schedule.schedule_id for schedule in plugin.schedules}


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_jobs_recheck_their_flag_when_they_run(name):
    for job_function in declaration(name).jobs:
        assert job_function.plugin_name == name


# --- the sample plugin: every part of the contract, on and off ---------------------------------------


@pytest.fixture
def sample_app(make_app) -> Callable[[bool], Flask]:
    return lambda is_on: make_app(CONTENTFLOW_PLUGINS=WITH_SAMPLE, FEATURE_SAMPLE=is_on)


def test_sample_flag_on_serves_its_route(sample_app):
    response = sample_app(True).test_client().get("/sample/hello")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello from sample"


def test_sample_flag_off_answers_404(sample_app):
    assert sample_app(False).test_client().get("/sample/hello").status_code == 404


@pytest.mark.parametrize("is_on", [True, False], ids=["on", "off"])
def test_sample_nav_entry_follows_the_flag_on_the_partner_portal(sample_app, db, partner, is_on):
    db.session.commit()  # released to the test's transaction: another app's contexts roll back to here
    client = sample_app(is_on).test_client()
    sign_in(client, partner)
    page = client.get("/partner/portal").get_data(as_text=True)
    assert ('href="/sample/hello"' in page) is is_on
    assert ("Sample page" in page) is is_on


def test_sample_flag_on_declares_and_reconciles_its_schedule(sample_app, redis):
    app = sample_app(True)
    schedule_id = "contentflow-schedule-tests-fixtures-sample-jobs-touch_sample"
    assert schedule_id in {schedule.schedule_id for schedule in declared_schedules(app)}
    scheduler = make_scheduler(app)
    result = reconcile_schedules(app, scheduler)
    assert schedule_id in result["added"]
    assert schedule_id in scheduler


def test_sample_flag_off_cancels_the_schedule_a_flag_on_run_left(sample_app, redis):
    app_on, app_off = sample_app(True), sample_app(False)
    reconcile_schedules(app_on, make_scheduler(app_on))
    schedule_id = "contentflow-schedule-tests-fixtures-sample-jobs-touch_sample"
    assert schedule_id not in {schedule.schedule_id for schedule in declared_schedules(app_off)}
    scheduler = make_scheduler(app_off)
    result = reconcile_schedules(app_off, scheduler)
    assert result["cancelled"] == [schedule_id]
    assert schedule_id not in scheduler
    assert not redis.exists(f"rq:job:{schedule_id}")


def test_sample_scheduled_job_runs_and_acts_when_due(sample_app, redis):
    app = sample_app(True)
    scheduler = make_scheduler(app)
    reconcile_schedules(app, scheduler)
    scheduler.enqueue_jobs()  # the first run is due at once
    make_worker(app, simple=True).work(burst=True)
    assert redis.get(TOUCHED_KEY) == b"1"


def test_sample_job_queued_while_on_does_nothing_on_a_flag_off_worker(sample_app, redis):
    app_on, app_off = sample_app(True), sample_app(False)
    with app_on.app_context():
        queued = enqueue(touch_sample)
    make_worker(app_off, simple=True).work(burst=True)
    queued.refresh()
    assert queued.get_status() == "finished"
    assert queued.return_value() is None
    assert not redis.exists(TOUCHED_KEY)


def test_sample_job_queued_while_on_acts_on_a_flag_on_worker(sample_app, redis):
    app = sample_app(True)
    with app.app_context():
        queued = enqueue(touch_sample)
    make_worker(app, simple=True).work(burst=True)
    assert queued.return_value() == "sample touched 1 time(s)"
    assert redis.get(TOUCHED_KEY) == b"1"


@pytest.mark.parametrize(
    ("is_on", "output"), [(True, "sample touched 1 time(s)"), (False, "its plugin is off")]
)
def test_flask_jobs_run_acts_only_while_the_flag_is_on(sample_app, redis, is_on, output):
    app = sample_app(is_on)
    with app.app_context():  # else the command runs in the context pytest-flask pushed for `app`
        result = app.test_cli_runner().invoke(args=["jobs", "run", "touch_sample"])
    assert result.exit_code == 0, result.output
    assert output in result.output
    assert redis.exists(TOUCHED_KEY) == is_on
