"""Membership scopes (DESIGN §2): each role over the kind of scope it works in."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from wenxu.accounts.models import Membership


@pytest.mark.parametrize("role", ["officer", "dispatcher", "admin"])
def test_area_roles_cannot_be_granted_over_a_unit(world, role):
    membership = Membership(user=world.outsider, role=role, unit=world.housing)
    with pytest.raises(ValidationError) as error:
        membership.full_clean()
    assert error.value.messages == [
        "只有承办人和领导可以按单位授权；走访干部/网格员、调度督办和系统管理员须按区域授权。"
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=world.outsider, role=role, unit=world.housing)


def test_handler_cannot_be_granted_over_an_area(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=world.outsider, role="handler", area=world.town_a)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("officer", "area"),
        ("dispatcher", "area"),
        ("admin", "area"),
        ("handler", "unit"),
        ("leader", "area"),
        ("leader", "unit"),
    ],
)
def test_each_role_may_hold_its_kind_of_scope(world, role, scope):
    values = {"area": world.town_a} if scope == "area" else {"unit": world.housing}
    membership = Membership(user=world.outsider, role=role, **values)
    membership.full_clean()
    membership.save()
