"""GET /api/v1/stats/rates: the rates with their counts and formulas, in the caller's scope."""

import pytest

from wenxu.insight.tests.test_measures import build_scenario


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


@pytest.fixture
def scenario(world):
    return build_scenario(world)


def test_the_api_returns_the_rates_with_counts_and_formulas_in_scope(scenario, api_as):
    params = {"start": "2026-09-07", "end": "2026-10-07"}
    body = api_as(scenario.leader).get("/stats/rates", params).json()
    assert body["response_rate"]["value"] == 0.8
    assert body["response_rate"]["counts"] == {"accepted_on_time": 4, "response_overdue": 1}
    assert body["satisfaction_rate"]["percent"] == "66.7%"
    assert body["counts"]["replies"] == 4  # a b d e
    # the transport handler sees only the transport unit's numbers
    mine = api_as(scenario.handler_other).get("/stats/rates", params).json()
    assert mine["counts"]["replies"] == 1
    # an outsider counts nothing
    none = api_as(scenario.outsider).get("/stats/rates", params).json()
    assert none["counts"]["replies"] == 0
    assert none["response_rate"]["value"] is None


def test_the_api_refuses_bad_periods_and_unknown_ids_in_chinese(scenario, api_as):
    api = api_as(scenario.leader)
    response = api.get("/stats/rates", {"start": "2026-10-07", "end": "2026-09-07"})
    assert response.status_code == 422
    assert "起始日期不能晚于结束日期" in response.content.decode()
    response = api.get("/stats/rates", {"unit": 999999})
    assert response.status_code == 422
    assert "999999" in response.content.decode()
