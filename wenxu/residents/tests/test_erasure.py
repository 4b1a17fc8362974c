"""Erasure of one requester on request (issue #9 item 3): `wenxu erase_requester`."""

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.notify.models import Message
from wenxu.residents.erasure import erasures_reapply, journal_append
from wenxu.residents.models import ANONYMISED_NAME, Requester

NAME, PHONE, ID_NUMBER, HOME = "张三丰", "13812345678", "110101199001011234", "东河村三组12号"


def who(need: Need) -> Requester:
    """The need's requester as stored now."""
    return Requester.objects.get(needs__pk=need.pk)


@pytest.fixture
def journal(settings: Any, tmp_path: Path) -> Path:
    settings.WENXU_ERASURE_JOURNAL = tmp_path / "erasures.jsonl"
    return Path(settings.WENXU_ERASURE_JOURNAL)


def person(name: str = NAME, phone: str = PHONE) -> services.RequesterInput:
    return services.RequesterInput(name=name, phone=phone, id_number=ID_NUMBER, address=HOME)


def closed_need(world: Any, **overrides: Any) -> Need:
    need = world.replied(**overrides)
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
        comment=f"已电话回访 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}，{NAME}表示满意。",
    )


def erase(*args: str) -> str:
    out = StringIO()
    call_command("erase_requester", *args, stdout=out)
    return out.getvalue()


def test_erasure_blanks_the_person_and_stars_their_data_in_the_need(world, journal):
    need = closed_need(
        world,
        requester=person(),
        description=f"{NAME}（电话１３８１２３４５６７８）反映：家门口的路灯坏了。",
        address=HOME,
    )
    other = closed_need(world, requester=person("李四", "13900001111"))
    version = Need.objects.get(pk=need.pk).version

    out = erase("--need", need.number, "--reason", f"{NAME}本人书面申请，电话 {PHONE}")

    # The output names the person masked only.
    assert "张**" in out
    assert need.number in out
    assert NAME not in out
    assert PHONE not in out
    requester = who(need)
    assert requester.name == ANONYMISED_NAME
    assert (requester.phone, requester.id_number, requester.address) == ("", "", "")
    if hasattr(requester, "phone_index"):  # the blind index follows the blanked phone
        assert requester.phone_index == ""
        assert requester.id_number_index == ""
    need.refresh_from_db()
    assert NAME not in need.description
    assert "１３８１２３４５６７８" not in need.description
    assert "***" in need.description
    assert "路灯坏了" in need.description
    assert need.address == ""  # the matter's place was the requester's home
    assert need.version == version + 1
    assert need.status == "closed"  # the ledger keeps the need
    notes = " ".join(NeedEvent.objects.filter(need=need).values_list("note", flat=True))
    assert PHONE[7:] not in notes
    assert NAME not in notes
    assert "表示满意" in notes
    assert NAME not in need.callback_comment
    # Others are untouched.
    assert who(other).name == "李四"
    assert "13900001111" not in Need.objects.get(pk=other.pk).description
    # Audited, without personal data.
    entry = AuditEntry.objects.get(action=actions.ERASURE)
    assert entry.target == f"requester:{requester.pk}"
    assert entry.detail["needs"] == [need.number]
    assert NAME not in json.dumps(entry.detail, ensure_ascii=False)
    assert PHONE not in json.dumps(entry.detail)
    # Journalled outside the database: one fsynced line, no personal data.
    raw = journal.read_text(encoding="utf-8")
    line = json.loads(raw)
    assert line["requester"] == requester.pk
    assert line["needs"] == [need.number]
    assert "本人书面申请" in line["reason"]
    assert line["time"]
    assert NAME not in raw
    assert PHONE not in raw
    assert ID_NUMBER not in raw
    assert journal.stat().st_mode & 0o077 == 0


def test_erasure_by_requester_id_cancels_messages_still_to_be_sent(world, journal):
    need = closed_need(world, requester=person())
    now = clock.now()
    for key, status in (("a", "pending"), ("b", "sent")):
        Message.objects.create(
            key=key,
            channel="sms",
            template="reply",
            requester_id=need.requester_id,
            to_masked="138****5678",
            body="您反映的问题已答复。",
            status=status,
            next_attempt_at=now,
            created_at=now,
        )

    erase("--requester", str(need.requester_id), "--reason", "本人申请")

    assert dict(Message.objects.values_list("key", "status")) == {"a": "cancelled", "b": "sent"}
    assert set(Message.objects.values_list("to_masked", flat=True)) == {ANONYMISED_NAME}
    assert who(need).name == ANONYMISED_NAME


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--need", "WX-2020-999999", "--reason", "本人申请"], "未找到台账编号为 WX-2020-999999"),
        (["--requester", "999999", "--reason", "本人申请"], "未找到编号为 999999 的诉求人"),
        (["--need", "{number}"], "请填写删除理由"),
        (["--need", "{number}", "--reason", "   "], "请填写删除理由"),
    ],
)
def test_bad_input_is_refused_in_chinese_and_changes_nothing(world, journal, args, message):
    need = closed_need(world, requester=person())
    args = [a.format(number=need.number) for a in args]

    with pytest.raises(CommandError, match=message):
        erase(*args)

    assert who(need).name == NAME
    assert not AuditEntry.objects.filter(action=actions.ERASURE).exists()
    assert not journal.exists()


def test_erasure_is_refused_while_a_need_of_the_requester_is_active(world, journal):
    need = world.in_progress(requester=person())

    with pytest.raises(CommandError, match=f"未办结的诉求（{need.number}）.*先办结或撤销"):
        erase("--need", need.number, "--reason", "本人申请")

    requester = who(need)
    assert (requester.name, requester.phone) == (NAME, PHONE)
    assert not journal.exists()
    assert not AuditEntry.objects.filter(action=actions.ERASURE).exists()


def test_erasing_again_changes_nothing_and_writes_nothing(world, journal):
    need = closed_need(world, requester=person())
    erase("--need", need.number, "--reason", "本人申请")

    out = erase("--need", need.number, "--reason", "本人申请")

    assert "此前已删除" in out
    assert AuditEntry.objects.filter(action=actions.ERASURE).count() == 1
    assert len(journal.read_text().splitlines()) == 1


def test_reapplying_skips_a_journal_line_whose_needs_do_not_match(world, journal):
    # Given a journal naming this requester's id but other needs (another database's journal)
    need = closed_need(world, requester=person())
    journal_append(
        {"time": "2020-01-01T00:00:00+00:00", "requester": need.requester_id, "needs": ["X"]}
    )
    journal.write_text(journal.read_text() + "not json\n")

    result = erasures_reapply(since=need.registered_at.replace(year=2019))

    assert result.mismatched == [need.requester_id]
    assert result.malformed == [2]
    assert who(need).name == NAME
