"""Flag off = absent: for every real plugin (and the test-only ``sample`` one, which uses every part of the
contract), no blueprint, no route, no nav entry, no template, no slot, no hook answer, no schedule, and its
queued jobs do nothing; its table is still migrated."""

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
SPEC_FLAGS = {  # written out again on purpose: the test checks the one list against SPEC.md
    "byop": "FEATURE_BYOP",
    "sharekit": "FEATURE_SHAREKIT",
    "publish": "FEATURE_PUBLISH",
    "earnings": "FEATURE_EARNINGS",
    "support": "FEATURE_SUPPORTBOT",
    "risk": "FEATURE_RISKBOT",
    "monitoring": "FEATURE_MONITORING",
}


def test_every_plugin_of_the_spec_is_available_with_its_flag():
    assert plugins.FLAGS == SPEC_FLAGS
    assert plugins.AVAILABLE == tuple(plugins.FLAGS)


def declaration(name: str):
    return importlib.import_module(f"plugins.{name}").plugin


def is_plugins(endpoint: str, name: str) -> bool:
    blueprint = endpoint.rpartition(".")[0]
    return blueprint == name or blueprint.startswith(f"{name}_")


def plugin_endpoints(app: Flask, name: str) -> list[str]:
    return [rule.endpoint for rule in app.url_map.iter_rules() if is_plugins(rule.endpoint, name)]


def plain_get_paths(app: Flask, name: str) -> list[str]:
    """The plugin's GET routes that take no argument: what a visitor could type."""
    return [
        rule.rule
        for rule in app.url_map.iter_rules()
        if is_plugins(rule.endpoint, name) and "GET" in rule.methods and not rule.arguments
    ]


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_declares_the_spec_flag_and_its_own_name(name):
    plugin = declaration(name)
    assert plugin.name == name
    assert plugin.flag == SPEC_FLAGS[name]
    assert all(bp.name == name or bp.name.startswith(f"{name}_") for bp in plugin.blueprints)


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_flag_on_registers_it(make_app, name):
    app = make_app(**{SPEC_FLAGS[name]: True})
    for blueprint in declaration(name).blueprints:
        assert app.blueprints[blueprint.name] is blueprint
    assert plugin_registry(app).is_enabled(name)


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_flag_off_leaves_no_blueprint_and_no_route(make_app, name):
    app_on = make_app(**{SPEC_FLAGS[name]: True})
    app_off = make_app(**{SPEC_FLAGS[name]: False})
    assert not {bp.name for bp in declaration(name).blueprints} & set(app_off.blueprints)
    assert not plugin_registry(app_off).is_enabled(name)
    assert plugin_endpoints(app_off, name) == []
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
    assert not [endpoint for endpoint in shown if is_plugins(endpoint, name)]
    assert not scheduled & {schedule.schedule_id for schedule in plugin.schedules}


@pytest.mark.parametrize("name", plugins.AVAILABLE)
def test_plugin_jobs_recheck_their_flag_when_they_run(name):
    for job_function in declaration(name).jobs:
        assert job_function.plugin_name == name


# --- the sample plugin: every part of the contract, on and off ---------------------------------------


@pytest.fixture
def sample_app(make_app) -> Callable[[bool], Flask]:
    return lambda is_on, **settings: make_app(FEATURE_SAMPLE=is_on, **settings)


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


# --- the sample plugin: models, templates, admin blueprint, sub-flag, slot, hook ---------------------


def add_note(db, partner, body: str) -> None:
    from tests.fixtures.sample.models import SampleNote

    db.session.add(SampleNote(partner_id=partner.id, body=body))
    db.session.commit()


@pytest.mark.parametrize("is_on", [True, False], ids=["on", "off"])
def test_sample_table_is_migrated_whatever_the_flag(sample_app, db, partner, is_on):
    import sqlalchemy as sa

    app = sample_app(is_on)
    with app.app_context():
        from contentflow.extensions import db as app_db

        assert "sample_notes" in sa.inspect(app_db.engine).get_table_names()
        assert "sample_notes" in app_db.metadata.tables
    add_note(db, partner, "written whatever the flag")


def test_sample_template_is_found_by_the_plugin_loader(sample_app, db, partner):
    add_note(db, partner, "<b>first</b>")
    client = sample_app(True).test_client()
    sign_in(client, partner)
    response = client.get("/sample/notes")
    assert response.status_code == 200
    assert '<ul id="sample-notes"><li>&lt;b&gt;first&lt;/b&gt;</li></ul>' in response.get_data(as_text=True)


def test_sample_templates_are_absent_when_off(sample_app):
    from jinja2 import TemplateNotFound

    app = sample_app(False)
    with app.app_context(), pytest.raises(TemplateNotFound):
        app.jinja_env.get_template("sample/notes.html")


@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("partner", 403), ("admin", 200)], ids=str)
def test_sample_admin_blueprint_is_behind_the_admin_login(sample_app, db, partner, admin, who, status):
    client = sample_app(True).test_client()
    if who != "anonymous":
        sign_in(client, partner if who == "partner" else admin)
    response = client.get("/ops/sample/")
    assert response.status_code == status
    if who == "anonymous":
        assert response.headers["Location"] == "/admin/login?next=/ops/sample/"
    if who == "admin":
        assert response.get_data(as_text=True) == "sample admin home"


def test_admin_sign_in_follows_next_into_a_plugins_admin_area(sample_app, admin):
    from tests.conftest import ADMIN_PASSWORD, csrf_token_of

    client = sample_app(True).test_client()
    token = csrf_token_of(client, "/admin/login")
    response = client.post(
        "/admin/login?next=/ops/sample/",
        data={"email": admin.email, "password": ADMIN_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/ops/sample/"


def test_sample_admin_blueprint_answers_404_when_off(sample_app, db, admin):
    client = sample_app(False).test_client()
    sign_in(client, admin)
    assert client.get("/ops/sample/").status_code == 404


@pytest.mark.parametrize("sub_flag", [True, False], ids=["sub-flag-on", "sub-flag-off"])
def test_sample_nav_entry_behind_a_sub_flag_follows_it(sample_app, db, partner, sub_flag):
    client = sample_app(True, FEATURE_SAMPLE_NOTES=sub_flag).test_client()
    sign_in(client, partner)
    page = client.get("/partner/portal").get_data(as_text=True)
    assert ('href="/sample/notes"' in page) is sub_flag
    assert 'href="/sample/hello"' in page


@pytest.mark.parametrize("is_on", [True, False], ids=["on", "off"])
def test_sample_admin_nav_entry_follows_the_flag(sample_app, db, admin, is_on):
    client = sample_app(is_on).test_client()
    sign_in(client, admin)
    assert ('href="/ops/sample/"' in client.get("/admin/").get_data(as_text=True)) is is_on


@pytest.mark.parametrize("is_on", [True, False], ids=["on", "off"])
def test_sample_fills_the_portal_slot_only_when_on(sample_app, db, partner, is_on):
    client = sample_app(is_on).test_client()
    sign_in(client, partner)
    page = client.get("/partner/portal").get_data(as_text=True)
    assert ('<div class="card" id="sample-card">Sample card for Pat</div>' in page) is is_on


def test_an_unknown_slot_in_a_template_is_an_error(app):
    from contentflow.extension_points import render_slot

    with app.app_context(), pytest.raises(LookupError, match="unknown slot 'portal.card'"):
        render_slot("portal.card")


@pytest.mark.parametrize("is_on", [True, False], ids=["on", "off"])
def test_sample_answers_the_on_hold_hook_only_when_on(sample_app, db, partner, make_partner, is_on):
    from contentflow.services import holds

    add_note(db, partner, "hold me")
    other = make_partner()
    with sample_app(is_on).app_context():
        assert holds.is_on_hold(partner.id) is is_on
        assert holds.is_on_hold(other.id) is False


def test_a_hook_answer_holds_back_a_withdrawal_through_the_core_service(sample_app, db, partner):
    from contentflow.services import payouts

    add_note(db, partner, "hold me")
    with sample_app(True).app_context(), pytest.raises(payouts.PartnerOnHold):
        payouts.request_withdrawal(partner, 5000, "paypal")


def test_create_assignment_hook_defaults_to_publish_unavailable(sample_app, db, partner, make_asset):
    from contentflow.services import assignments

    asset = make_asset()
    with sample_app(False, FEATURE_PUBLISH=False).app_context():
        assert not assignments.can_create()
        outcome = assignments.create_for(partner.id, asset.id, "youtube", approved=True)
    assert outcome == assignments.AssignmentOutcome("youtube", reason="publish_unavailable")


def test_monitoring_cards_hook_defaults_to_no_card(app):
    from contentflow.extension_points import MONITORING_CARDS

    with app.app_context():
        assert MONITORING_CARDS(days=7) == []
