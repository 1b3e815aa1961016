"""The core's extension points: named template slots and named service hooks, the one way plugins meet
the core and each other (a plugin never imports another).

- A **slot** is a place in a page where enabled plugins add HTML: ``{{ slot("kit.actions", submission=s) }}``
  renders, in menu order, what every enabled plugin registered for ``kit.actions``, and nothing when none
  did. A plugin registers ``slots={"kit.actions": render}``; ``render(**context)`` returns HTML (the output
  of ``render_template``, which escapes what it shows).
- A **hook** is a question a core service asks the plugins, with a documented signature and a default
  when no enabled plugin answers. A plugin answers with ``hooks={"holds.is_on_hold": answer}``. How the
  answers combine is the hook's ``mode``: ``first`` (the first answer that is not None), ``any`` (true when
  one answer is), ``collect`` (every answer's items, in menu order).

Both catalogues below are the whole list: ``load_plugins`` refuses a plugin that fills an unknown slot or
answers an unknown hook, so a typo stops start-up instead of silently doing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Flask, current_app, has_app_context
from markupsafe import Markup

REGISTRY_KEY = "contentflow.extension_points"


@dataclass(frozen=True)
class Slot:
    """A named place in a page; ``context`` names what the page passes to each renderer."""

    name: str
    context: str
    doc: str


@dataclass(frozen=True)
class Hook:
    """A named question with its signature (``doc``), how answers combine, and the default answer when no
    enabled plugin answers. Call it like the function it documents: ``IS_ON_HOLD(partner_id, now=now)``."""

    name: str
    mode: Literal["first", "any", "collect"]
    doc: str
    default: Callable[..., Any] = field(compare=False)

    def answers(self) -> list[Callable[..., Any]]:
        """The enabled plugins' answers, in menu order (none outside an app context)."""
        registry = _registry()
        return list(registry.hooks.get(self.name, ())) if registry else []

    def is_answered(self) -> bool:
        """Whether an enabled plugin answers: the feature behind the hook is there."""
        return bool(self.answers())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answers = self.answers()
        if self.mode == "first":
            for answer in answers:
                result = answer(*args, **kwargs)
                if result is not None:
                    return result
            return self.default(*args, **kwargs)
        if self.mode == "any":
            return any(answer(*args, **kwargs) for answer in answers) or self.default(*args, **kwargs)
        collected = [item for answer in answers for item in (answer(*args, **kwargs) or ())]
        return collected or self.default(*args, **kwargs)


@dataclass(frozen=True)
class Card:
    """A figure a plugin shows on another's dashboard (``monitoring.cards``). ``value`` is already
    formatted for display; ``endpoint`` is where the card links to (None: nowhere)."""

    title: str
    value: str
    detail: str = ""
    endpoint: str | None = None
    order: int = 100


def _never(*args: Any, **kwargs: Any) -> bool:
    return False


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _no_items(*args: Any, **kwargs: Any) -> list:
    return []


SLOTS: dict[str, Slot] = {
    slot.name: slot
    for slot in (
        Slot("landing.pitch", "", "The public landing /partners, above the sign-in form: why join."),
        Slot("portal.cards", "partner", "The partner portal's cards, after the core's own."),
        Slot(
            "kit.actions",
            "partner, asset, submission_id (None outside BYOP)",
            "The share kit page: actions beside the share buttons (BYOP's publish button).",
        ),
        Slot("admin.home", "", "The admin home, above the audit log: links to plugin pages."),
    )
}

#: Is the partner held by something other than the core's holds table? (partner_id: str, *, now:
#: datetime) -> bool. The core holds service asks it after its own table.
IS_ON_HOLD = Hook("holds.is_on_hold", "any", "(partner_id: str, *, now: datetime) -> bool", _never)
#: Create an assignment of an asset to a partner on a platform, on the partner's first enabled account:
#: (partner_id: str, asset_id: str, platform: str, *, approved: bool) ->
#: services.assignments.AssignmentOutcome. Default None: nobody publishes (the publish plugin is off).
CREATE_ASSIGNMENT = Hook(
    "assignments.create_for",
    "first",
    "(partner_id: str, asset_id: str, platform: str, *, approved: bool) -> AssignmentOutcome | None",
    _nothing,
)
#: Figures a plugin contributes to the admin dashboard: (*, days: int) -> list[Card].
MONITORING_CARDS = Hook("monitoring.cards", "collect", "(*, days: int) -> list[Card]", _no_items)
#: The asset of a partner's own BYOP submission: (submission_id: str, partner_id: str) -> asset id | None.
#: Default None: no such submission of that partner, or BYOP is off (its pages are then absent).
SUBMISSION_ASSET = Hook(
    "submissions.asset_of", "first", "(submission_id: str, partner_id: str) -> str | None", _nothing
)

HOOKS: dict[str, Hook] = {
    hook.name: hook for hook in (IS_ON_HOLD, CREATE_ASSIGNMENT, MONITORING_CARDS, SUBMISSION_ASSET)
}


@dataclass
class ExtensionRegistry:
    """What the enabled plugins of one app registered: renderers per slot, answers per hook."""

    slots: dict[str, list[Callable[..., str]]] = field(default_factory=dict)
    hooks: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    def add(self, owner: str, slots: dict[str, Callable], hooks: dict[str, Callable]) -> None:
        """Record one plugin's renderers and answers. Raises LookupError naming an unknown slot or hook."""
        for name, renderer in slots.items():
            if name not in SLOTS:
                raise LookupError(f"plugin {owner}: unknown slot {name!r}; slots are {', '.join(SLOTS)}")
            self.slots.setdefault(name, []).append(renderer)
        for name, answer in hooks.items():
            if name not in HOOKS:
                raise LookupError(f"plugin {owner}: unknown hook {name!r}; hooks are {', '.join(HOOKS)}")
            self.hooks.setdefault(name, []).append(answer)


def install_registry(app: Flask, registry: ExtensionRegistry) -> None:
    app.extensions[REGISTRY_KEY] = registry
    app.jinja_env.globals["slot"] = render_slot


def _registry() -> ExtensionRegistry | None:
    if not has_app_context():
        return None
    return current_app.extensions.get(REGISTRY_KEY)


def render_slot(name: str, **context: Any) -> Markup:
    """The ``slot()`` template function: what every enabled plugin renders for slot ``name``, joined.

    Raises LookupError for a slot that is not in the catalogue (a typo in a template)."""
    if name not in SLOTS:
        raise LookupError(f"unknown slot {name!r}; slots are {', '.join(SLOTS)}")
    registry = _registry()
    renderers: Iterable[Callable[..., str]] = registry.slots.get(name, ()) if registry else ()
    # Renderers return render_template output: HTML whose user text is already escaped.
    return Markup("").join(Markup(renderer(**context)) for renderer in renderers)  # noqa: S704
