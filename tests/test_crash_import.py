"""A crash in the middle of an import leaves no partial rows (issue #9 item 7).

Already covered: `wenxu/needs/tests/test_ledger_import.py`
(`test_a_failure_mid_commit_leaves_nothing_behind`: the database failing on the 3rd chunk) and
`wenxu/visits/tests/test_places_import*.py` (bad rows, a concurrent duplicate). Added here:

- an exception from inside a row's assignment (earlier chunks of the file written, as
  `services.bulk.need_register_batch` writes them), and a database error on the bookkeeping
  rows, for the ledger import;
- an exception between the places import's inserts and its updates;
- the process killed mid-import (`os._exit` in a child process running the `import_ledger`
  command, or the places import, against the test database): every count unchanged, the
  database intact, and the same file imports cleanly afterwards.
"""

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection
from openpyxl import Workbook  # type: ignore[import-untyped]

from wenxu.needs.ledger_import import service
from wenxu.needs.models import LedgerCounter, LedgerImportBatch, LedgerImportRow, Need, NeedEvent
from wenxu.needs.services import bulk
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx, xlsx_bytes
from wenxu.residents.models import Requester
from wenxu.visits import place_import
from wenxu.visits.models import Place

KILLED = 86  # the child's exit status when the injected kill fires
HOUSING = "青山县住房和城乡建设局"
PLACE_HEADER = ["网格", "类型", "名称/门牌", "地址", "户主/负责人", "联系电话", "人数", "备注"]
GRID_A = "东河镇/东河村/东河村第一网格"


def ledger_state() -> dict[str, Any]:
    return {
        "needs": Need.objects.count(),
        "events": NeedEvent.objects.count(),
        "requesters": Requester.objects.count(),
        "import_rows": LedgerImportRow.objects.count(),
        "committed": LedgerImportBatch.objects.filter(state="committed").count(),
        "counter": list(LedgerCounter.objects.values_list("year", "last")),
    }


def places() -> list[tuple[Any, ...]]:
    return list(
        Place.objects.order_by("pk").values_list(
            "pk", "area_id", "kind", "name", "address", "contact_name", "contact_phone", "members"
        )
    )


def places_xlsx(names: list[str], *, members: int = 4) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(PLACE_HEADER)
    for name in names:
        sheet.append([GRID_A, "住户", name, "东河村东街", "张三", "13912348765", members, ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def checked(actor: Any, upload: Any) -> LedgerImportBatch:
    batch = service.ledger_import_upload(actor=actor, upload=upload)
    dry = service.ledger_import_check(
        actor=actor, batch_id=batch.pk, mapping=batch.mapping, default_source="walk_in"
    )
    assert dry.result is not None
    assert dry.result.ok, dry.result.problems[:3]
    return dry.batch


# --------------------------------------------------------------------------- exceptions


@pytest.mark.django_db
def test_a_failure_inside_a_rows_assignment_leaves_no_need_of_the_file(world, monkeypatch):
    # Given one need registered by hand, and a checked file of 20 rows, each assigned to 住建局,
    # written five to a chunk
    world.register(title="手工登记的诉求")
    batch = checked(world.dispatcher, xlsx([ledger_row(i, unit=HOUSING) for i in range(1, 21)]))
    before = ledger_state()
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 5)
    # and the assignment of row 13 failing, after the first two chunks' needs were written
    real = bulk._assign
    calls = {"n": 0}

    def failing(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 13:
            # Written, not committed: the first chunk surely, the second perhaps still being
            # written (on PostgreSQL a writer thread writes a chunk while the next is checked)
            assert Need.objects.count() in (6, 11)
            raise RuntimeError("connection reset")
        real(*args)

    monkeypatch.setattr(bulk, "_assign", failing)

    with pytest.raises(RuntimeError):
        service.ledger_import_commit(actor=world.dispatcher, batch_id=batch.pk)

    assert calls["n"] == 13
    assert ledger_state() == before
    assert LedgerImportBatch.objects.get(pk=batch.pk).state == "checked"


@pytest.mark.django_db
def test_a_database_error_on_a_bookkeeping_row_rolls_back_and_the_retry_imports_once(
    world, monkeypatch
):
    batch = checked(world.dispatcher, xlsx([ledger_row(i) for i in range(1, 11)]))
    before = ledger_state()
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 4)
    real = bulk.insert_rows
    calls = {"n": 0}

    def failing(model: Any, objs: list[Any]) -> None:
        if model is LedgerImportRow:
            calls["n"] += 1
            if calls["n"] == 2:
                raise IntegrityError("duplicate key value violates unique constraint")
        real(model, objs)

    monkeypatch.setattr(bulk, "insert_rows", failing)
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_commit(actor=world.dispatcher, batch_id=batch.pk)
    assert "没有写入任何数据" in caught.value.message
    assert ledger_state() == before

    # when the user confirms again, the file imports once, with gap-free numbers
    monkeypatch.undo()
    result = service.ledger_import_commit(actor=world.dispatcher, batch_id=batch.pk)
    assert result.registered == 10
    assert Need.objects.count() == 10
    assert sorted(n[-6:] for n in Need.objects.values_list("number", flat=True)) == [
        f"{i:06d}" for i in range(1, 11)
    ]


@pytest.mark.django_db
def test_a_failure_between_the_places_inserts_and_updates_leaves_the_places_as_they_were(
    world, monkeypatch
):
    # Given two places, and a file that updates one and adds three
    Place.objects.create(area=world.grid_a, kind="household", name="1号", members=2)
    Place.objects.create(area=world.grid_a, kind="household", name="2号", members=3)
    before = places()
    upload = SimpleUploadedFile("名册.xlsx", places_xlsx(["1号", "3号", "4号", "5号"], members=6))

    def failing(*args: Any, **kwargs: Any) -> int:
        # the new places were inserted a moment ago, in the same transaction
        assert Place.objects.filter(name="5号").exists()
        raise RuntimeError("disk full")

    monkeypatch.setattr(Place.objects, "bulk_update", failing)
    with pytest.raises(RuntimeError):
        place_import.place_import(actor=world.officer, upload=upload)

    assert places() == before


# --------------------------------------------------------------------------- process killed

# Run in a child process against the test database: makes the Nth call of `target` (a dotted
# "module:attribute" path) end the process at once, as a power cut or `kill -9` would, in the
# middle of the import's transaction, then runs `code`.
CHILD = textwrap.dedent(
    """
    import importlib, os, sys
    import django
    django.setup()
    module_name, attribute, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    owner = importlib.import_module(module_name)
    for part in attribute.split(".")[:-1]:
        owner = getattr(owner, part)
    name = attribute.split(".")[-1]
    real = getattr(owner, name)
    calls = [0]

    def killing(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            print(f"killed after {after} calls", file=sys.stderr, flush=True)
            os._exit({killed})
        return real(*args, **kwargs)

    setattr(owner, name, killing)
    exec(sys.argv[4])
    """
).replace("{killed}", str(KILLED))


def database_url() -> str:
    """The URL of the test database this test process uses (a file, or a PostgreSQL database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def run_killed(target: str, after: int, code: str) -> subprocess.CompletedProcess[str]:
    root = Path(settings.BASE_DIR).parent  # the checkout this test process imports
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wenxu.test_settings",
        "WENXU_TEST_DATABASE_URL": database_url(),
        "WENXU_DATA_DIR": str(settings.DATA_DIR),  # the same keys for personal data
        "PYTHONPATH": str(root),
    }
    module, attribute = target.split(":")
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", CHILD, module, attribute, str(after), code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_database_intact() -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA integrity_check")
            assert cursor.fetchone()[0] == "ok"


@pytest.mark.django_db(transaction=True)
def test_the_ledger_import_command_killed_mid_commit_leaves_nothing_and_runs_again(world, tmp_path):
    # Given a clean ledger file of 60 rows assigned to 住建局, and a need already registered
    world.register(title="手工登记的诉求")
    path = tmp_path / "台账.xlsx"
    path.write_bytes(xlsx_bytes([ledger_row(i, unit=HOUSING) for i in range(1, 61)]))
    before = ledger_state()
    command = (
        "from django.core.management import call_command\n"
        "from wenxu.needs.services import bulk\n"
        "bulk.CHUNK_SIZE = 10\n"
        f"call_command('import_ledger', {str(path)!r}, user='dispatcher')"
    )

    # when the command's process dies as it writes the events of the 4th chunk of 10 rows (its
    # requesters, then its needs, then its events: 40 needs written, uncommitted)
    child = run_killed("wenxu.needs.services.bulk:insert_rows", 11, command)

    # then it died there, and nothing of the file is in the database
    assert child.returncode == KILLED, child.stderr[-2000:]
    assert "killed after 11 calls" in child.stderr
    assert_database_intact()
    assert ledger_state() == before
    # and the same file imports in full when run again
    out = io.StringIO()
    call_command("import_ledger", str(path), user="dispatcher", stdout=out)
    assert "已导入 60 条诉求" in out.getvalue()
    assert Need.objects.filter(status="assigned", lead_unit=world.housing).count() == 60
    assert LedgerImportRow.objects.count() == 60
    # the killed run used up no number (the rows are numbered in their own year, 2025)
    imported = Need.objects.filter(import_row__isnull=False).values_list("number", flat=True)
    assert sorted(imported) == [f"WX-2025-{i:06d}" for i in range(1, 61)]


@pytest.mark.django_db(transaction=True)
def test_the_places_import_killed_between_inserts_and_updates_leaves_the_places_alone(
    world, tmp_path
):
    Place.objects.create(area=world.grid_a, kind="household", name="1号", members=2)
    before = places()
    path = tmp_path / "名册.xlsx"
    names = ["1号", *(f"{i}号" for i in range(2, 41))]
    path.write_bytes(places_xlsx(names, members=6))
    code = textwrap.dedent(
        f"""
        from django.core.files.uploadedfile import SimpleUploadedFile
        from wenxu.accounts.models import User
        from wenxu.visits import place_import
        data = open({str(path)!r}, "rb").read()
        place_import.place_import(
            actor=User.objects.get(username="officer"),
            upload=SimpleUploadedFile("名册.xlsx", data),
        )
        """
    )

    # the process dies after inserting 39 places, before updating 1号
    child = run_killed("wenxu.visits.models:Place.objects.bulk_update", 0, code)

    assert child.returncode == KILLED, child.stderr[-2000:]
    assert_database_intact()
    assert places() == before
    result = place_import.place_import(
        actor=world.officer, upload=SimpleUploadedFile("名册.xlsx", path.read_bytes())
    )
    assert (result.created, result.updated) == (39, 1)
