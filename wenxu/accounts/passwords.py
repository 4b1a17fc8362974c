"""The password policy (issue #9, 等保 2.0; docs/operations.md "Login security").

Three validators in `AUTH_PASSWORD_VALIDATORS`, next to Django's similarity, common-password and
numeric ones: a minimum length (`WENXU_PASSWORD_MIN_LENGTH`, 8), at least
`WENXU_PASSWORD_CLASSES` (3) of the four character classes, and none of the user's last
`WENXU_PASSWORD_HISTORY` (5) passwords. Every form that sets a password runs them (the change
page, the admin's add and set-password forms).

The history keeps hashes only. It is written by `PasswordHistoryValidator.password_changed`,
which Django calls from `User.save()` whenever `set_password` was used: forms, the admin,
`create_user` and commands alike.
"""

import string
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from wenxu.accounts.models import PasswordHistory, User

LOWER = "lower"
UPPER = "upper"
DIGIT = "digit"
SYMBOL = "symbol"


def character_classes(password: str) -> set[str]:
    """The classes `password` uses. Letters are the ASCII ones; anything else that is not a
    digit (punctuation, spaces, Chinese characters) counts as a symbol."""
    classes: set[str] = set()
    for char in password:
        if char in string.ascii_lowercase:
            classes.add(LOWER)
        elif char in string.ascii_uppercase:
            classes.add(UPPER)
        elif char in string.digits:
            classes.add(DIGIT)
        else:
            classes.add(SYMBOL)
    return classes


class LengthValidator:
    """At least `WENXU_PASSWORD_MIN_LENGTH` characters (replaces Django's length validator,
    so that the setting, not a number in the validator list, decides)."""

    @property
    def min_length(self) -> int:
        return int(settings.WENXU_PASSWORD_MIN_LENGTH)

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) < self.min_length:
            raise ValidationError(
                ngettext(
                    "密码太短：至少需要 %(min)d 个字符，现在只有 %(have)d 个。",
                    "密码太短：至少需要 %(min)d 个字符，现在只有 %(have)d 个。",
                    self.min_length,
                )
                % {"min": self.min_length, "have": len(password)},
                code="password_too_short",
            )

    def get_help_text(self) -> str:
        return ngettext("至少 %(min)d 个字符。", "至少 %(min)d 个字符。", self.min_length) % {
            "min": self.min_length
        }


class CharacterClassValidator:
    """At least `WENXU_PASSWORD_CLASSES` of: lowercase letters, uppercase letters, digits,
    symbols."""

    @property
    def required(self) -> int:
        return int(settings.WENXU_PASSWORD_CLASSES)

    def validate(self, password: str, user: Any = None) -> None:
        have = len(character_classes(password))
        if have < self.required:
            raise ValidationError(
                _(
                    "密码须包含小写字母、大写字母、数字、符号四类中的至少 %(required)d 类，"
                    "现在只有 %(have)d 类。"
                )
                % {"required": self.required, "have": have},
                code="password_too_simple",
            )

    def get_help_text(self) -> str:
        return _("须包含小写字母、大写字母、数字、符号四类中的至少 %(required)d 类。") % {
            "required": self.required
        }


class PasswordHistoryValidator:
    """Not one of the user's last `WENXU_PASSWORD_HISTORY` passwords (the current one
    included); 0 turns the check off."""

    @property
    def depth(self) -> int:
        return int(settings.WENXU_PASSWORD_HISTORY)

    def _recent_hashes(self, user: User) -> list[str]:
        hashes = [user.password] if user.password else []
        recent = PasswordHistory.objects.filter(user=user).order_by("-created_at", "-pk")
        for encoded in recent.values_list("password", flat=True)[: self.depth]:
            if encoded not in hashes:
                hashes.append(encoded)
        return hashes[: self.depth]

    def validate(self, password: str, user: Any = None) -> None:
        if self.depth < 1 or not isinstance(user, User) or user.pk is None:
            return
        if any(check_password(password, encoded) for encoded in self._recent_hashes(user)):
            raise ValidationError(
                ngettext(
                    "不能使用最近 %(count)d 次用过的密码，请设置一个新密码。",
                    "不能使用最近 %(count)d 次用过的密码，请设置一个新密码。",
                    self.depth,
                )
                % {"count": self.depth},
                code="password_reused",
            )

    def password_changed(self, password: str, user: Any = None) -> None:
        """Called by Django after a password set with `set_password` was saved."""
        if not isinstance(user, User) or user.pk is None or not user.has_usable_password():
            return
        PasswordHistory.objects.create(user=user, password=user.password)
        keep = PasswordHistory.objects.filter(user=user).order_by("-created_at", "-pk")
        stale = keep.values_list("pk", flat=True)[max(self.depth, 1) :]
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()

    def get_help_text(self) -> str:
        if self.depth < 1:
            return ""
        return ngettext(
            "不能与最近 %(count)d 次用过的密码相同。",
            "不能与最近 %(count)d 次用过的密码相同。",
            self.depth,
        ) % {"count": self.depth}
