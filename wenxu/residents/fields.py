"""A text column encrypted at rest (AES-256-GCM, wenxu.lib.crypto), transparent to the code.

`requester.phone` reads and assigns plain text; the database holds `v1:<key id>:<…>`. So:

- `max_length` is what a person may enter (validation, forms); the column is wider, sized for
  the sealed text (`crypto.sealed_length`), and every cast uses that width too.
- The only lookups are those that do not need the plain value: `= ""`, `> ""` and `IS NULL`
  (`.exclude(requester__phone="")` keeps working, since "" is stored as ""). Anything else
  (`phone="138…"`, `phone__contains`) could never match a sealed value and is refused with a
  `FieldError` pointing to the blind index (`Requester.objects.with_phone`).
- A stored value that does not decrypt (its key left the ring, the value was altered) reads as
  `Unreadable` (（无法解密） wherever shown) rather than failing the whole page or list it is in,
  and is logged naming the column and key; saving the row writes it back as stored.
  `wenxu pii_rekey` counts such rows.
"""

import logging
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import lookups
from django.db.models.expressions import Expression
from django.utils.datastructures import DictWrapper

from wenxu.lib import crypto
from wenxu.lib.masking import Unreadable
from wenxu.residents.pii import key_ring

logger = logging.getLogger(__name__)
# The problems already logged by this process: one line each, not one per row and page view.
_logged: set[str] = set()


def _log_unreadable(problem: crypto.DecryptionError) -> None:
    # The message names the column and the key id, never the value; the row is not known here.
    message = str(problem)
    if message not in _logged and len(_logged) < 100:
        _logged.add(message)
        logger.error(
            "A stored personal value does not decrypt; it is shown as unreadable and kept as "
            "stored (`wenxu pii_rekey` counts such rows): %s",
            message,
        )


def _refusal(field: "EncryptedCharField", lookup: str) -> FieldError:
    return FieldError(
        f"{field.context} is encrypted: the lookup {lookup!r} cannot match it. Search with the "
        "blind index (Requester.objects.with_phone / with_id_number) or compare with '' only."
    )


class _EmptyOnly:
    """A lookup on an encrypted column that only compares with the empty string."""

    lookup_name: str
    lhs: Any
    rhs: Any

    def get_prep_lookup(self) -> Any:
        if self.rhs is not None and (self.rhs != "" or isinstance(self.rhs, Expression)):
            raise _refusal(self.lhs.output_field, self.lookup_name)
        return super().get_prep_lookup()  # type: ignore[misc]


class EmptyOnlyExact(_EmptyOnly, lookups.Exact):  # type: ignore[type-arg]
    pass


class EmptyOnlyGreaterThan(_EmptyOnly, lookups.GreaterThan):  # type: ignore[type-arg]
    pass


class EncryptedCharField(models.CharField):  # type: ignore[type-arg]
    """A CharField sealed with the personal-data key ring; `context` names the column for good."""

    def __init__(self, *args: Any, context: str, **kwargs: Any) -> None:
        # The associated data: a value sealed for one column does not open in another. Fixed
        # here rather than taken from the model, so renaming a model cannot lock its data away.
        self.context = context
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        return name, path, args, kwargs

    @property
    def stored_length(self) -> int:
        return crypto.sealed_length(self.max_length or 0)

    def db_type_parameters(self, connection: BaseDatabaseWrapper) -> DictWrapper[Any]:
        return DictWrapper(
            {**self.__dict__, "max_length": self.stored_length}, connection.ops.quote_name, "qn_"
        )

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Unreadable):
            return value.sealed  # written back as it was read: nothing is lost
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value, context=self.context, ring=key_ring())

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        try:
            return crypto.decrypt(value, context=self.context, ring=key_ring())
        except crypto.DecryptionError as problem:
            _log_unreadable(problem)
            return Unreadable(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return EmptyOnlyExact
        if lookup_name == "gt":
            return EmptyOnlyGreaterThan
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise _refusal(self, lookup_name)
