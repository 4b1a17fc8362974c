"""Login security (issue #9; ADR 0017): two-factor codes, password changes, and the steps a
signed-in session still owes before it may use the system.

A login is complete when the password was right (lockout: wenxu.accounts.lockout) and then,
in this order:

1. the TOTP code, for users who must or chose to use one: at `WENXU_SECURITY_LEVEL=3` every
   superuser, every staff account (it reaches the admin) and every holder of an admin or leader
   membership; at any level, a user with a confirmed device. Without a device yet, a user who
   must use one enrols first;
2. a new password, for users whose password someone else chose (`must_change_password`), in
   production mode: everywhere except under `wenxu demo` (`WENXU_DEMO`) and `WENXU_DEBUG`.

Wrong codes count towards the same lockout as wrong passwords, and each is recorded in the
security log (OTP_FAILED); so are enrolments (OTP_ENROL) and password changes. Since that lockout
is per address, the code step also has limits per user, whatever the address: django-otp's
back-off on the device (1 s after a wrong code, doubling with each further one), and after
`OTP_USER_FAILURE_LIMIT` consecutive wrong codes, the last within `WENXU_LOGIN_LOCKOUT_MINUTES`,
the user's code step is locked until that long after the last one (`code_locked_until`).
"""

import base64
from datetime import datetime
from enum import StrEnum

import django_otp
import segno
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from wenxu.accounts import lockout
from wenxu.accounts.models import ApiToken, Role, User
from wenxu.audit import actions
from wenxu.audit.services import audit_record

# The security level a session completed its login at (absent: steps may be owed).
SESSION_DONE = "wenxu_login_done"
# When the session last made a request (seconds since the epoch; the idle timeout).
LAST_SEEN = "wenxu_last_seen"
OTP_ROLES = (Role.ADMIN, Role.LEADER)
DEVICE_NAME = "TOTP"
# Consecutive wrong codes of one user, from any address, that lock the user's code step.
OTP_USER_FAILURE_LIMIT = 10


class Step(StrEnum):
    """What a signed-in session still owes, in the order it is asked."""

    OTP_ENROL = "otp_enrol"
    OTP_VERIFY = "otp_verify"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 - a step, not a password


# --------------------------------------------------------------------------- policy


def otp_mandatory(user: User) -> bool:
    """At level 3, superusers, staff (who reach the admin) and admin or leader members must
    use a code."""
    if settings.WENXU_SECURITY_LEVEL < 3:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return user.memberships.filter(role__in=OTP_ROLES).exists()


def confirmed_device(user: User) -> TOTPDevice | None:
    device: TOTPDevice | None = (
        TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    )
    return device


def otp_required(user: User) -> bool:
    """Whether a login of `user` asks for a code (or, without a device, for enrolment)."""
    return confirmed_device(user) is not None or otp_mandatory(user)


def password_change_enforced() -> bool:
    """Production mode: not the demo (`wenxu demo` sets WENXU_DEMO) and not debug."""
    return not settings.DEBUG and not settings.WENXU_DEMO


def must_change_password(user: User) -> bool:
    return user.must_change_password and password_change_enforced()


def password_change_message() -> str:
    """What the API tells a client whose user must first change the password."""
    return _(
        "此账号的密码由管理员设置，须先在网页上登录并修改密码（/accounts/password/），"
        "之后再获取访问令牌。"
    )


def _otp_verified(user: User | AnonymousUser) -> bool:
    """Set by django-otp's middleware (or `django_otp.login`) once this session passed a code."""
    return getattr(user, "otp_device", None) is not None


def pending_step(request: HttpRequest, user: User) -> Step | None:
    """The next step this session owes, or None when its login is complete."""
    if not _otp_verified(user):
        if confirmed_device(user) is not None:
            return Step.OTP_VERIFY
        if otp_mandatory(user):
            return Step.OTP_ENROL
    if must_change_password(user):
        return Step.PASSWORD_CHANGE
    return None


def login_done(request: HttpRequest) -> bool:
    return bool(request.session.get(SESSION_DONE) == settings.WENXU_SECURITY_LEVEL)


def mark_login_done(request: HttpRequest, user: User) -> None:
    """The session owes nothing more: stop checking on every request, and forget the
    failures of this user from this address (the lockout counts consecutive failures)."""
    request.session[SESSION_DONE] = settings.WENXU_SECURITY_LEVEL
    lockout.forget_failures(request, user.get_username())


def on_login(request: HttpRequest, user: User) -> None:
    """Right after the password (any login: ours, the admin's, the test client's): work out
    once whether the session owes a step, so that requests need not ask the database."""
    request.session[LAST_SEEN] = int(timezone.now().timestamp())
    if pending_step(request, user) is None:
        mark_login_done(request, user)
    else:
        request.session.pop(SESSION_DONE, None)


# --------------------------------------------------------------------------- TOTP


def _normalised(token: str) -> str:
    return "".join(token.split())


def _failed(*, request: HttpRequest, user: User, step: str) -> None:
    audit_record(
        action=actions.OTP_FAILED,
        actor=user,
        target=f"user:{user.pk}",
        detail={"step": step},
        request=request,
    )
    lockout.count_failure(request, user.get_username())


def code_locked_until(user: User) -> datetime | None:
    """When the lock of `user`'s code step ends (None: not locked): `OTP_USER_FAILURE_LIMIT`
    consecutive wrong codes of one of the user's devices (django-otp counts them on the device,
    whatever the address; a right code resets the count), the last one within the lockout time."""
    now = timezone.now()
    ends = [
        last + lockout.cool_off()
        for last in TOTPDevice.objects.filter(
            user=user,
            throttling_failure_count__gte=OTP_USER_FAILURE_LIMIT,
            throttling_failure_timestamp__gt=now - lockout.cool_off(),
        ).values_list("throttling_failure_timestamp", flat=True)
        if last is not None
    ]
    return max(ends) if ends else None


def _verified(device: TOTPDevice, token: str) -> bool:
    """django-otp's check (its back-off included), with the device row locked so that codes
    tried at the same time are checked one after the other and each counts."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        ok: bool = locked.verify_token(_normalised(token))
    device.refresh_from_db()
    return ok


def otp_enrol_start(*, user: User) -> TOTPDevice:
    """The device being enrolled: made once, then shown again until confirmed (so that a
    reload does not invalidate a code already scanned)."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device: TOTPDevice | None = (
            TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        )
        if device is None:
            device = TOTPDevice(user=user, name=DEVICE_NAME, confirmed=False)
            device.full_clean()
            device.save()
    return device


def otp_enrol_confirm(*, request: HttpRequest, user: User, token: str) -> TOTPDevice | None:
    """Confirm the device being enrolled with one code from it; None when the code is wrong
    (counted towards the lockout and recorded)."""
    device: TOTPDevice | None = (
        TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    )
    if code_locked_until(user) is not None:
        return None  # refused unchecked, and not counted (the view answers the lock)
    if device is None or not _verified(device, token):
        _failed(request=request, user=user, step="enrol")
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).exclude(pk=device.pk).delete()
        audit_record(
            action=actions.OTP_ENROL,
            actor=user,
            target=f"user:{user.pk}",
            detail={"device": device.pk},
            request=request,
        )
    return device


def otp_check(*, request: HttpRequest, user: User, token: str) -> TOTPDevice | None:
    """The user's device when `token` is its current code; else None (counted towards the
    lockout and recorded). A code is accepted once only. While the user's code step is locked
    (`code_locked_until`) every code is refused unchecked and uncounted."""
    if code_locked_until(user) is not None:
        return None
    device = confirmed_device(user)
    if device is None or not _verified(device, token):
        _failed(request=request, user=user, step="verify")
        return None
    return device


def otp_session_verified(request: HttpRequest, device: TOTPDevice) -> None:
    """Mark this session as having passed a code from `device`."""
    django_otp.login(request, device)


def otp_secret(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app by hand."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def otp_qr_svg(device: TOTPDevice, *, title: str) -> str:
    """The otpauth URI as an inline SVG QR code, drawn on the server (no script, no CDN)."""
    code = segno.make(device.config_url, error="m")
    svg: str = code.svg_inline(scale=5, border=4, light="#fff", title=title)
    return svg


# --------------------------------------------------------------------------- passwords


def password_change(*, request: HttpRequest | None, user: User, password: str) -> None:
    """The user sets their own new password (already validated by the form): the forced
    change ends, their other sessions and API tokens end with the old password."""
    with transaction.atomic():
        user.set_password(password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        audit_record(
            action=actions.PASSWORD_CHANGE,
            actor=user,
            target=f"user:{user.pk}",
            detail={"by": "self"},
            request=request,
        )


def old_password_failed(*, request: HttpRequest, user: User) -> bool:
    """A wrong current password on the change page: a failed login like any other (recorded,
    and counted towards the lockout); True when it locked the user out from here."""
    audit_record(
        action=actions.LOGIN_FAILED,
        actor=user,
        target=f"user:{user.pk}",
        detail={"username": user.get_username(), "step": "old password"},
        request=request,
    )
    return lockout.count_failure(request, user.get_username())


def password_set_by_admin(*, request: HttpRequest | None, user: User, actor: User) -> None:
    """An administrator has set `user`'s password (the admin form saved it): unless it was
    their own, `user` must choose a new one at their next login."""
    by_self = actor.pk == user.pk
    with transaction.atomic():
        if not by_self:
            User.objects.filter(pk=user.pk).update(must_change_password=True)
            user.must_change_password = True
        audit_record(
            action=actions.PASSWORD_CHANGE,
            actor=actor,
            target=f"user:{user.pk}",
            detail={"by": "self" if by_self else "admin"},
            request=request,
        )


def bearer_must_change_password(raw: str) -> bool:
    """Whether the bearer token `raw` belongs to a user who must first change the password
    someone else chose (the API then answers 403)."""
    if not raw or len(raw) > 200 or not password_change_enforced():
        return False
    return ApiToken.objects.filter(
        key_hash=ApiToken.hash_of(raw), user__must_change_password=True
    ).exists()
