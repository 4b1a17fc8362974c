"""The demo county's visits, places and plans, and its coverage page (loaded once per module)."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from wenxu.accounts.models import User
from wenxu.core import demo_data
from wenxu.needs.models import Need
from wenxu.visits.models import Place, Visit, VisitPlan


@pytest.fixture(scope="module")
def loaded(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():
        demo_data.load(password="demo-pass-2026")
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded: None, db: None) -> None:
    return None


def test_demo_has_places_plans_and_a_few_months_of_visits(demo):
    assert Place.objects.filter(kind="household").count() >= 30
    assert Place.objects.filter(kind="enterprise").exists()
    assert Place.objects.filter(kind="public").exists()
    assert 2 <= VisitPlan.objects.count() <= 4
    visits = Visit.objects.all()
    assert 20 <= visits.count() <= 40
    oldest = visits.order_by("started_at").first()
    assert oldest is not None
    assert oldest.started_at < timezone.now() - timedelta(days=60)
    assert all(v.summary and 1 <= v.mood <= 5 for v in visits)
    assert Visit.objects.filter(officers__username="officer").count() >= 15
    raised = Need.objects.filter(visit__isnull=False)
    assert raised.filter(handling="on_the_spot").count() >= 2
    assert raised.filter(source="observed").count() == 1
    assert raised.count() < visits.count()  # most visits raise no need


def test_demo_officer_sees_coverage_with_plans_grids_and_sentiment(demo):
    client = Client()
    client.force_login(User.objects.get(username="officer"))
    today = timezone.localdate()
    # The last four months, not "this quarter": on a quarter's first day nothing is reached yet.
    period = {"period": "custom", "start": str(today - timedelta(days=120)), "end": str(today)}
    response = client.get("/coverage/", period)
    assert response.status_code == 200
    report = response.context["report"]
    assert len(report.plans) >= 2
    assert report.total.places >= 30
    assert 0 < report.total.reached < report.total.places
    assert any(row.user.username == "officer" and row.visits for row in report.officers)
    html = response.content.decode()
    assert "走访计划完成情况" in html
    assert "获得感" in html
