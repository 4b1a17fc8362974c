"""The admin site (issue 2, item 10): in Chinese, trees in order, the ledger view-only, personal
data masked."""

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wenxu.accounts.models import ApiToken, Membership, User
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.deadlines import current_calendar
from wenxu.needs.models import DeadlineRule, HolidayOverride, Need
from wenxu.notify.models import Notification
from wenxu.organisations.models import Area
from wenxu.residents.models import Requester

RAW_NAME = "张三丰"
RAW_PHONE = "13812345678"
RAW_ID = "110101199001011234"
RAW_ADDRESS = "东河村幸福路12号3单元"


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", password="pw-root-secret")


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def ledger(world, django_capture_on_commit_callbacks):
    """A replied need with a requester, events and notifications, plus one of everything else."""
    with django_capture_on_commit_callbacks(execute=True):
        need = world.replied(
            requester=services.RequesterInput(
                name=RAW_NAME, phone=RAW_PHONE, id_number=RAW_ID, address=RAW_ADDRESS
            )
        )
    _raw, prefix, key_hash = ApiToken.generate()
    ApiToken.objects.create(
        user=world.handler,
        name="对接脚本",
        prefix=prefix,
        key_hash=key_hash,
        expires_at=clock.now() + timedelta(days=30),
    )
    HolidayOverride.objects.create(date=date(2027, 10, 1), is_workday=False, note="国庆节")
    DeadlineRule.objects.create(
        category=world.cat_roads,
        urgency="normal",
        response_value=1,
        response_unit="workdays",
        resolve_value=3,
        resolve_unit="workdays",
    )
    assert Notification.objects.exists()
    return need


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


# --------------------------------------------------------------------------- every page loads


def test_superuser_loads_every_changelist_add_and_change_page(root_client, root, ledger, rf):
    request = rf.get("/")
    request.user = root
    loaded = []
    for model, model_admin in admin.site._registry.items():
        assert root_client.get(_url(model, "changelist")).status_code == 200, model
        add = root_client.get(_url(model, "add"))
        assert add.status_code == (200 if model_admin.has_add_permission(request) else 403), model
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            assert root_client.get(_url(model, "change", obj.pk)).status_code == 200, model
            loaded.append(model._meta.model_name)

    # The models the admin exists for, each with a row on its change page.
    assert {
        "area",
        "unit",
        "category",
        "deadlinerule",
        "holidayoverride",
        "user",
        "apitoken",
        "need",
        "needevent",
        "requester",
        "notification",
    } <= set(loaded)


def test_admin_speaks_chinese(root_client):
    response = root_client.get(reverse("admin:index"))

    content = response.content.decode()
    assert '<html lang="zh-hans"' in content
    assert "问需 · 系统管理" in content
    assert "诉求台账" in content
    assert "节假日调整" in content
    assert "办理时限规则" in content


# --------------------------------------------------------------------------- trees


def test_area_list_is_in_tree_order_and_indented_by_depth(root_client, world):
    content = root_client.get(_url(Area, "changelist")).content.decode()

    county = content.index(">青山县<")
    town_a = content.index("\u3000└ 东河镇")
    village_a = content.index("\u3000\u3000└ 东河村<")
    grid_a = content.index("\u3000\u3000\u3000└ 东河村第一网格")
    town_b = content.index("\u3000└ 西岭乡")
    assert county < town_a < village_a < grid_a < town_b


def test_area_list_searches_by_name_and_filters_by_level(root_client, world):
    url = _url(Area, "changelist")

    found = root_client.get(url, {"q": "西岭"}).content.decode()
    grids = root_client.get(url, {"level__exact": "grid"}).content.decode()

    assert "西岭村第一网格" in found
    assert "东河村第一网格" not in found
    assert "东河村第一网格" in grids
    assert "东河镇" not in grids


def test_unit_list_filters_by_kind(root_client, world):
    content = root_client.get(
        _url(type(world.housing), "changelist"), {"kind__exact": "township"}
    ).content.decode()

    assert "东河镇人民政府" in content
    assert "住房和城乡建设局" not in content


def test_parent_field_uses_autocomplete_that_searches_by_name(root_client, world):
    form = root_client.get(_url(Area, "change", world.grid_a.pk)).content.decode()
    response = root_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "organisations",
            "model_name": "area",
            "field_name": "parent",
            "term": "东河",
        },
    )

    assert 'data-model-name="area"' in form
    assert "admin-autocomplete" in form
    names = {row["text"] for row in response.json()["results"]}
    assert {"东河镇", "东河村", "东河村第一网格"} <= names
    assert "西岭乡" not in names


def test_area_cannot_be_moved_under_its_own_descendant(root_client, world):
    response = root_client.post(
        _url(Area, "change", world.town_a.pk),
        {
            "name": "东河镇",
            "level": "township",
            "parent": world.grid_a.pk,
            "code": "",
            "households": "",
        },
    )

    assert response.status_code == 200
    assert "上级不能是自身或自身的下级" in response.content.decode()
    world.town_a.refresh_from_db()
    assert world.town_a.parent_id == world.county.pk


# --------------------------------------------------------------------------- calendar and rules


def test_holiday_override_entered_in_the_admin_changes_the_calendar(root_client, db):
    before = current_calendar().add_workdays(date(2026, 9, 28), 5)

    response = root_client.post(
        _url(HolidayOverride, "add"), {"date": "2026-10-09", "is_workday": "", "note": "临时放假"}
    )

    assert response.status_code == 302
    assert before == date(2026, 10, 10)
    assert current_calendar().add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 12)
    listing = root_client.get(_url(HolidayOverride, "changelist")).content.decode()
    assert "星期五" in listing


def test_second_default_rule_for_an_urgency_is_refused_with_a_message(root_client, db):
    values = {
        "category": "",
        "urgency": "normal",
        "response_value": "1",
        "response_unit": "workdays",
        "resolve_value": "5",
        "resolve_unit": "workdays",
        "remind_before_hours": "24",
        "max_extensions": "1",
        "max_extension_days": "10",
    }
    assert root_client.post(_url(DeadlineRule, "add"), values).status_code == 302

    response = root_client.post(_url(DeadlineRule, "add"), values)

    assert response.status_code == 200
    assert "该紧急程度已有通用规则" in response.content.decode()
    assert DeadlineRule.objects.count() == 1


# ----------------------------------------------------------------------- the ledger is view-only


def test_need_change_page_has_no_editable_status(root_client, ledger):
    content = root_client.get(_url(Need, "change", ledger.pk)).content.decode()

    assert 'name="status"' not in content
    assert "<select" not in content
    assert 'name="_save"' not in content
    assert "已答复" in content  # shown, read-only
    assert ledger.number in content


def test_need_cannot_be_changed_added_or_deleted_in_the_admin(root_client, ledger):
    post = root_client.post(_url(Need, "change", ledger.pk), {"status": "closed"})
    add = root_client.get(_url(Need, "add"))
    delete = root_client.post(_url(Need, "delete", ledger.pk), {"post": "yes"})

    assert (post.status_code, add.status_code, delete.status_code) == (403, 403, 403)
    ledger.refresh_from_db()
    assert ledger.status == "replied"
    actions = root_client.get(_url(Need, "changelist")).context["action_form"]
    assert actions is None


def test_need_list_shows_the_ledger_columns_and_searches(root_client, world, ledger):
    other = world.register(actor=world.officer_b, title="西岭村自来水浑浊", area=world.grid_b)

    response = root_client.get(_url(Need, "changelist"), {"q": ledger.number})

    content = response.content.decode()
    assert ledger.number in content
    assert ledger.title in content
    assert other.number not in content
    assert "东河村第一网格" in content
    assert "县住建局" in content


def test_need_list_queries_do_not_grow_with_rows(root_client, world):
    world.assigned()
    root_client.get(_url(Need, "changelist"))  # what pages keep between requests (ADR 0026)
    with CaptureQueriesContext(connection) as one:
        root_client.get(_url(Need, "changelist"))
    for _ in range(5):
        world.assigned(lead=world.transport)
    with CaptureQueriesContext(connection) as six:
        root_client.get(_url(Need, "changelist"))

    assert len(six) == len(one)


def test_need_events_are_view_only(root_client, ledger):
    event = ledger.events.get(action="reply")
    NeedEvent = type(event)

    assert root_client.get(_url(NeedEvent, "change", event.pk)).status_code == 200
    assert root_client.post(_url(NeedEvent, "change", event.pk), {"note": "x"}).status_code == 403
    assert root_client.post(_url(NeedEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert ledger.events.count() == 4


def test_staff_without_superuser_sees_only_needs_in_scope(client, world, ledger):
    world.officer_b.is_staff = True
    world.officer_b.save(update_fields=["is_staff"])
    world.officer_b.user_permissions.add(Permission.objects.get(codename="view_need"))
    mine = world.register(actor=world.officer_b, title="西岭村道路积水", area=world.grid_b)
    client.force_login(world.officer_b)

    content = client.get(_url(Need, "changelist")).content.decode()

    assert mine.number in content
    assert ledger.number not in content
    assert client.get(_url(Need, "change", ledger.pk)).status_code in {302, 404}


# --------------------------------------------------------------------------- personal data


def test_requester_admin_shows_masked_data_only(root_client, ledger):
    requester = ledger.requester

    listing = root_client.get(_url(Requester, "changelist")).content.decode()
    page = root_client.get(_url(Requester, "change", requester.pk)).content.decode()

    for content in (listing, page):
        assert "138****5678" in content
        assert "张**" in content
        for raw in (RAW_NAME, RAW_PHONE, RAW_ID, RAW_ADDRESS):
            assert raw not in content
    assert "110101********1234" in page
    assert 'name="phone"' not in page
    assert 'name="name"' not in page
    assert 'name="_save"' not in page


def test_confidential_requester_shows_nothing_identifying(root_client, world):
    need = world.register(
        requester=services.RequesterInput(name=RAW_NAME, phone=RAW_PHONE, confidential=True)
    )

    page = root_client.get(_url(Requester, "change", need.requester_id)).content.decode()

    assert "（保密）" in page
    assert "138****5678" not in page
    assert RAW_NAME[0] + "**" not in page


def test_requester_cannot_be_probed_by_raw_fields_in_the_url(root_client, ledger):
    url = _url(Requester, "changelist")

    assert root_client.get(url, {"phone__startswith": "138"}).status_code == 400
    assert root_client.get(url, {"name": RAW_NAME}).status_code == 400
    assert root_client.get(url, {"confidential__exact": "0"}).status_code == 200


def test_requester_cannot_be_changed_or_deleted(root_client, ledger):
    url = _url(Requester, "change", ledger.requester_id)

    assert root_client.post(url, {"name": "李四", "phone": "13900000000"}).status_code == 403
    assert root_client.get(_url(Requester, "delete", ledger.requester_id)).status_code == 403
    assert Requester.objects.get(pk=ledger.requester_id).phone == RAW_PHONE


def test_need_page_shows_the_requester_masked(root_client, ledger):
    content = root_client.get(_url(Need, "change", ledger.pk)).content.decode()

    assert "张**" in content
    assert RAW_NAME not in content
    assert RAW_PHONE not in content


# --------------------------------------------------------------------------- accounts


def test_user_is_added_with_display_name_phone_and_membership(root_client, world):
    response = root_client.post(
        _url(User, "add"),
        {
            "username": "new_officer",
            "usable_password": "true",
            "password1": "Qingshan-2026-pass",
            "password2": "Qingshan-2026-pass",
            "display_name": "赵网格",
            "phone": "13700001111",
            "email": "",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-role": "officer",
            "memberships-0-area": str(world.town_b.pk),
            "memberships-0-unit": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="new_officer")
    assert (user.display_name, user.phone) == ("赵网格", "13700001111")
    assert user.check_password("Qingshan-2026-pass")
    assert list(user.memberships.values_list("role", "area")) == [("officer", world.town_b.pk)]


def test_membership_with_both_area_and_unit_is_refused(root_client, world):
    user = world.outsider
    data = {
        "username": user.username,
        "display_name": user.display_name,
        "phone": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "08:00:00",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-role": "leader",
        "memberships-0-area": str(world.county.pk),
        "memberships-0-unit": str(world.housing.pk),
    }

    response = root_client.post(_url(User, "change", user.pk), data)

    assert response.status_code == 200
    assert "区域范围和单位范围须且只须填写一项" in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()


def test_user_list_shows_roles_with_scopes(root_client, world):
    content = root_client.get(_url(User, "changelist"), {"q": "dispatcher"}).content.decode()

    assert "调度员" in content
    assert "调度督办·青山县" in content


def test_api_tokens_are_listed_without_their_hash_and_can_be_revoked(root_client, world, ledger):
    token = ApiToken.objects.get()
    revoked_before = clock.now() - timedelta(days=1)
    _raw, prefix, key_hash = ApiToken.generate()
    old = ApiToken.objects.create(
        user=world.handler,
        prefix=prefix,
        key_hash=key_hash,
        expires_at=clock.now() + timedelta(days=1),
        revoked_at=revoked_before,
    )
    listing = root_client.get(_url(ApiToken, "changelist")).content.decode()
    page = root_client.get(_url(ApiToken, "change", token.pk)).content.decode()
    assert token.prefix in listing
    assert token.key_hash not in listing
    assert token.key_hash not in page
    assert "有效" in listing

    response = root_client.post(
        _url(ApiToken, "changelist"),
        {"action": "revoke", "_selected_action": [token.pk, old.pk], "index": "0"},
        follow=True,
    )

    assert "已吊销 1 个令牌" in response.content.decode()
    token.refresh_from_db()
    old.refresh_from_db()
    assert token.revoked_at is not None
    assert not token.is_usable(clock.now())
    assert old.revoked_at == revoked_before


def test_api_tokens_cannot_be_added_or_edited_in_the_admin(root_client, ledger):
    token = ApiToken.objects.get()

    assert root_client.get(_url(ApiToken, "add")).status_code == 403
    assert root_client.post(_url(ApiToken, "change", token.pk), {"name": "x"}).status_code == 403
    token.refresh_from_db()
    assert token.name == "对接脚本"
