"""Files of exports that show requesters unmasked (a reason given, issue #9) are kept a day at
most, and go at once when anyone is anonymised (erasure on request, retention): a file written
before would still hold the person's data."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile

from wenxu.exchange import services
from wenxu.exchange.models import ExportJob, export_storage
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.residents.erasure import requester_erase
from wenxu.residents.retention import retention_run


def job(world: Any, *, reveal_reason: str = "", finished: timedelta = timedelta(0)) -> ExportJob:
    """A finished export job of the dispatcher's, with its file on disk."""
    row = ExportJob.objects.create(
        user=world.dispatcher,
        format=ExportJob.Format.CSV,
        status=ExportJob.State.DONE,
        finished_at=clock.now() - finished,
        reveal_reason=reveal_reason,
    )
    name = export_storage.save(f"{row.pk}-file.csv", ContentFile(b"number,requester\n"))
    ExportJob.objects.filter(pk=row.pk).update(file=name)
    row.refresh_from_db()
    return row


def on_disk(row: ExportJob) -> bool:
    row.refresh_from_db()
    return bool(row.file.name) and Path(export_storage.path(row.file.name)).exists()


def closed_need(world: Any, phone: str) -> Any:
    need = world.replied(requester=need_services.RequesterInput(name="赵一", phone=phone))
    return need_services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )


def test_cleanup_keeps_a_revealing_export_a_day_and_a_masked_one_a_week(world: Any) -> None:
    revealing_old = job(world, reveal_reason="核对台账", finished=timedelta(hours=25))
    revealing_new = job(world, reveal_reason="核对台账", finished=timedelta(hours=23))
    masked = job(world, finished=timedelta(hours=25))

    assert services.export_jobs_cleanup() == 1

    assert not on_disk(revealing_old)
    assert on_disk(revealing_new)
    assert on_disk(masked)
    # a week on, everything has gone
    assert services.export_jobs_cleanup(now=clock.now() + timedelta(days=8)) == 2
    assert not on_disk(revealing_new)
    assert not on_disk(masked)


def test_an_erasure_deletes_every_revealing_export_file(
    world: Any, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WENXU_ERASURE_JOURNAL = tmp_path / "erasures.jsonl"
    need = closed_need(world, "13800000001")
    revealing, masked = job(world, reveal_reason="核对台账"), job(world)

    with django_capture_on_commit_callbacks(execute=True):
        requester_erase(actor=world.admin, reason="本人书面申请删除", need_number=need.number)

    assert not on_disk(revealing)
    assert on_disk(masked)


def test_retention_deletes_every_revealing_export_file_once_it_anonymises_someone(
    world: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WENXU_RETENTION_DAYS = 30
    revealing = job(world, reveal_reason="核对台账")
    # nobody to anonymise: the file stays
    with django_capture_on_commit_callbacks(execute=True):
        retention_run(dry_run=False)
    assert on_disk(revealing)

    with clock.travel(clock.now() - timedelta(days=60)):
        closed_need(world, "13800000002")
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_run(dry_run=False).requesters == 1
    assert not on_disk(revealing)
