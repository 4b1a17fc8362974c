"""A requester's own phone and ID number typed into a need's texts are stored masked (issue #9):
`residents.scrub` and the services that store the texts."""

from typing import Any

import pytest

from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent, ReopenRequest
from wenxu.needs.rating import rating_link_issue
from wenxu.residents.scrub import scrub_requester_data

PHONE, ID_NUMBER = "13987654321", "33010219800101123X"
MASKED_PHONE, MASKED_ID = "139****4321", "330102********123X"
NEIGHBOUR = "13811112222"


@pytest.mark.parametrize(
    "written",
    [
        "13987654321",
        "139 8765 4321",
        "139-8765-4321",
        "139.8765.4321",
        "+86 139 8765 4321",
        "+8613987654321",
        "（+86）13987654321",
        "0086-139-8765-4321",
        "１３９８７６５４３２１",
        "139\u200b8765\u200b4321",
    ],
)
def test_the_requesters_phone_is_masked_however_it_is_written(written: str) -> None:
    text = f"请回电{written}，谢谢。"
    assert scrub_requester_data(text, phone=PHONE, id_number="") == f"请回电{MASKED_PHONE}，谢谢。"


def test_the_id_number_is_masked_and_everything_else_stays() -> None:
    text = f"身份证 3301 0219 8001 0112 3x，邻居电话 {NEIGHBOUR}，门牌 12 号，编号 {PHONE}0。"
    scrubbed = scrub_requester_data(text, phone=PHONE, id_number=ID_NUMBER)
    # the neighbour's number, other numbers and a longer number holding the phone stay
    assert scrubbed == (f"身份证 {MASKED_ID}，邻居电话 {NEIGHBOUR}，门牌 12 号，编号 {PHONE}0。")
    assert scrub_requester_data(text, phone="", id_number="") == text


def test_a_landline_is_found_with_or_without_its_area_code() -> None:
    text = "电话 (0571) 8888 6666，或直拨 88886666。"
    scrubbed = scrub_requester_data(text, phone="0571-88886666", id_number="")
    assert scrubbed == "电话 0571****6666，或直拨 0571****6666。"


def test_hidden_requesters_numbers_are_starred_not_masked() -> None:
    scrubbed = scrub_requester_data(f"电话{PHONE}", phone=PHONE, id_number="", hidden=True)
    assert scrubbed == "电话***"


def test_texts_too_short_for_the_numbers_compile_no_pattern(monkeypatch) -> None:
    # given a requester with both numbers, and patterns that must not be built
    from wenxu.residents import scrub

    scrubber = scrub.requester_scrubber(phone=PHONE, id_number=ID_NUMBER)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled a pattern")

    monkeypatch.setattr(scrub, "_replacements", refuse)

    # then notes with dates and counts (fewer digits than the ID, no run of the phone) pass
    for text in ("第 12 次跟进", "2026-11-30 已联系，３ 天内回复", "门牌 1024 号"):
        assert scrubber(text) == text

    # and a text with as many digits as the ID is looked at with the patterns
    monkeypatch.undo()
    text = f"身份证 {ID_NUMBER[:6]} {ID_NUMBER[6:]}"
    assert scrub.requester_scrubber(phone=PHONE, id_number=ID_NUMBER)(text) == (
        f"身份证 {MASKED_ID}"
    )


def stored_texts(need: Need) -> str:
    need = Need.objects.get(pk=need.pk)
    parts = [
        need.title,
        need.description,
        need.address,
        need.reply_text,
        need.callback_comment,
        need.extension_pending_reason,
    ]
    parts += NeedEvent.objects.filter(need=need).values_list("note", flat=True)
    parts += [
        text
        for request in ReopenRequest.objects.filter(need=need)
        for text in (request.comment, request.decline_reason)
    ]
    return "\n".join(parts)


def test_services_store_the_requesters_numbers_masked_in_every_text(world: Any) -> None:
    requester = services.RequesterInput(name="钱多多", phone=PHONE, id_number=ID_NUMBER)
    # typed before the requester was known: scrubbed at registration
    need = world.register(
        title=f"回电 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}",
        description=f"诉求人电话{PHONE}，身份证{ID_NUMBER}；邻居{NEIGHBOUR}也反映过。",
        address=f"东河村（联系{PHONE}）",
        requester=requester,
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    need = services.need_return(
        actor=world.handler_other, need=need, version=need.version, reason=f"已电联{PHONE}，非本局"
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    need = services.need_progress(
        actor=world.handler, need=need, version=need.version, note=f"已联系 +86 {PHONE}"
    )
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=2, reason=f"待{PHONE}本人在家"
    )
    pending = stored_texts(need)
    assert PHONE not in pending
    need = services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text=f"已修复，已电话（{PHONE}）告知。",
    )
    # the resident rates it online, unsatisfied, and writes the number again
    need = services.need_rate(
        link=rating_link_issue(need),
        resolved="no",
        satisfaction="dissatisfied",
        comment=f"没修好，请打{PHONE}",
    )
    request = ReopenRequest.objects.get(need=need)
    services.reopen_request_decline(
        actor=world.dispatcher, request=request, version=need.version, reason=f"已电{PHONE}说明"
    )

    stored = stored_texts(need)
    assert PHONE not in stored
    assert ID_NUMBER not in stored
    assert MASKED_PHONE in stored
    assert MASKED_ID in stored
    assert NEIGHBOUR in stored  # another person's number is not the requester's to hide
    assert stored.count(MASKED_PHONE) >= 10


def test_a_confidential_requesters_numbers_are_starred(world: Any) -> None:
    need = world.register(
        description=f"举报人电话{PHONE}，请勿外传。",
        requester=services.RequesterInput(name="钱多多", phone=PHONE, confidential=True),
    )
    description = Need.objects.get(pk=need.pk).description
    assert description == "举报人电话***，请勿外传。"


def test_a_need_without_a_requester_keeps_its_numbers(world: Any) -> None:
    need = world.register(description=f"路灯坏了，联系人电话{PHONE}。")
    assert PHONE in Need.objects.get(pk=need.pk).description
