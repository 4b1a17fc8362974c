"""Security log entries for Django's own events: sign-ins, sign-outs and failed sign-ins (the
auth signals), and every change made in the Django admin (its LogEntry rows).

These are framework events, not domain logic, so signals are the right hook (CONVENTIONS §4
keeps signals out of domain logic). Connected in `AuditConfig.ready()`.
"""

import functools
import json
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest
from django.utils import translation

from wenxu.accounts.models import Membership, User
from wenxu.audit import actions
from wenxu.audit.services import audit_record, logged_username
from wenxu.audit.services import scrub_text as scrub

# Models whose repr may name a resident: their entries keep the model and id only.
PERSONAL_APPS = frozenset({"residents"})
# Changes to these are changes of who may do what.
ROLE_MODELS = frozenset({("accounts", "membership"), ("auth", "group")})
USER_MODELS = frozenset({("accounts", "user")})
# User form fields that grant rights (the admin logs their untranslated labels).
_RIGHTS_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")
FLAGS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


# --------------------------------------------------------------------------- sign-in


def _request(value: object) -> HttpRequest | None:
    return value if isinstance(value, HttpRequest) else None


def on_user_logged_in(
    sender: object, request: object = None, user: object = None, **_: Any
) -> None:
    if isinstance(user, User):
        audit_record(
            action=actions.LOGIN, actor=user, target=f"user:{user.pk}", request=_request(request)
        )


def on_user_logged_out(
    sender: object, request: object = None, user: object = None, **_: Any
) -> None:
    if isinstance(user, User):  # None when nobody was signed in
        audit_record(
            action=actions.LOGOUT, actor=user, target=f"user:{user.pk}", request=_request(request)
        )


def on_user_login_failed(
    sender: object, credentials: dict[str, Any] | None = None, request: object = None, **_: Any
) -> None:
    """The username tried, never the password or any other credential: whole when it is an
    account's, else only its first characters (`logged_username`: it may be a password)."""
    known, username = logged_username((credentials or {}).get(User.USERNAME_FIELD))
    audit_record(
        action=actions.LOGIN_FAILED,
        actor=None,
        target=f"user:{known}" if known is not None else "",
        detail={"username": username},
        request=_request(request),
    )


# --------------------------------------------------------------------------- the admin


def _right_labels() -> set[str]:
    """Lower-cased: the admin logs the form's label, the verbose name with a capital."""
    with translation.override(None):
        fields = [User._meta.get_field(name) for name in _RIGHTS_FIELDS]
        return {str(getattr(field, "verbose_name", field.name)).lower() for field in fields}


def _membership_label() -> str:
    with translation.override(None):
        return str(Membership._meta.verbose_name)


def _changes(entry: LogEntry) -> list[Any]:
    """The admin's change message as stored (untranslated JSON), or its plain text."""
    raw = entry.change_message or ""
    try:
        parsed = json.loads(raw) if raw.startswith("[") else raw
    except ValueError:
        parsed = raw
    if isinstance(parsed, list):
        return parsed
    return [{"message": parsed}] if parsed else []


def _strip_objects(changes: list[Any]) -> list[Any]:
    """The inline objects' reprs go (they may name a resident); what was done stays."""
    kept: list[Any] = []
    for item in changes:
        if isinstance(item, dict):
            item = {
                verb: {k: v for k, v in part.items() if k != "object"}
                if isinstance(part, dict)
                else part
                for verb, part in item.items()
            }
        kept.append(item)
    return kept


def _scrub_all(value: Any) -> Any:
    """Every text in the change message with phone and ID numbers masked."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_all(v) for v in value]
    return value


def _action_for(app_label: str, model: str, changes: list[Any]) -> str:
    if (app_label, model) in ROLE_MODELS:
        return actions.ROLE_CHANGE
    if (app_label, model) in USER_MODELS:
        # Memberships are edited inline on the user: the user's entry then carries them.
        membership, rights = _membership_label(), _right_labels()
        for item in changes:
            for part in item.values() if isinstance(item, dict) else ():
                if not isinstance(part, dict):
                    continue
                fields = {str(field).lower() for field in part.get("fields") or ()}
                if part.get("name") == membership or rights & fields:
                    return actions.ROLE_CHANGE
        return actions.USER_CHANGE
    return actions.SETTING_CHANGE


def admin_entry_record(entry: LogEntry) -> None:
    """One security log entry for one admin LogEntry: who, what (model, id, repr) and how."""
    type_id = entry.content_type_id
    content_type = ContentType.objects.get_for_id(type_id) if type_id else None  # cached
    app_label = content_type.app_label if content_type else ""
    model = content_type.model if content_type else ""
    changes = _changes(entry)
    personal = app_label in PERSONAL_APPS
    detail: dict[str, object] = {
        "model": f"{app_label}.{model}",
        "object_id": str(entry.object_id or ""),
        "flag": FLAGS.get(entry.action_flag, str(entry.action_flag)),
        "changes": _scrub_all(_strip_objects(changes) if personal else changes),
    }
    if not personal:
        detail["object"] = scrub(entry.object_repr or "")
    audit_record(
        action=_action_for(app_label, model, changes),
        actor=entry.user if isinstance(entry.user, User) else None,
        target=f"{app_label}.{model}:{entry.object_id or ''}",
        detail=detail,
    )


def on_log_entry_saved(sender: object, instance: LogEntry, created: bool = False, **_: Any) -> None:
    if created and not getattr(instance, "_wenxu_audited", False):
        instance._wenxu_audited = True  # type: ignore[attr-defined]
        admin_entry_record(instance)


def install_bulk_mirror() -> None:
    """Mirror the LogEntry rows that the admin writes with `bulk_create` too.

    Django's `LogEntryManager.log_actions` saves one entry (post_save fires) but bulk-creates
    several (no signal), as "delete selected" does for more than one object: without this, a
    bulk deletion of units or rules would leave no trace. Wrapping the manager's method is the
    only hook Django offers; it is idempotent, and entries already mirrored are skipped.
    """
    from django.contrib.admin.models import LogEntryManager

    original = LogEntryManager.log_actions
    if getattr(original, "_wenxu_audit", False):
        return

    @functools.wraps(original)
    def log_actions(self: LogEntryManager, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        for entry in result if isinstance(result, list) else [result]:
            if isinstance(entry, LogEntry) and not getattr(entry, "_wenxu_audited", False):
                entry._wenxu_audited = True  # type: ignore[attr-defined]
                admin_entry_record(entry)
        return result

    log_actions._wenxu_audit = True  # type: ignore[attr-defined]
    LogEntryManager.log_actions = log_actions  # type: ignore[method-assign]
