"""The ledger's keyword search on PostgreSQL can use the trigram indexes (migration needs
0011, ADR 0038): the statement Django writes for a search must stay one they serve."""

import pytest
from django.db import connection

from wenxu.needs.models import Need
from wenxu.needs.selectors import NeedFilters, apply_filters

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's pg_trgm indexes"
)

INDEXES = {f"needs_need_{c}_trgm" for c in ("number", "title", "description", "address")}


def test_the_four_searched_columns_have_trigram_indexes(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'needs_need'")
        found = dict(cursor.fetchall())

    assert set(found) >= INDEXES
    for name in INDEXES:
        assert "USING gin (" in found[name], found[name]
        assert "gin_trgm_ops" in found[name], found[name]
        assert "fastupdate=off" in found[name], found[name]


# Words without cased letters (matched with `contains`, see text_lookup): a word with letters is
# matched whatever their case, with UPPER(…) LIKE, which these indexes do not serve.
@pytest.mark.parametrize("word", ["路灯不亮", "2026-000", "东河村"])
def test_a_keyword_search_is_answered_from_the_trigram_indexes(world, word):
    # given a ledger, and a planner told to avoid reading the table whole where it can
    for i in range(30):
        world.register(title=f"第{i}号诉求", description=f"村民反映第{i}件事。")
    searched = apply_filters(Need.objects.all(), NeedFilters(q=word), viewer=world.dispatcher)
    sql, params = searched.order_by().values_list("pk").query.sql_with_params()

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # then each searched column is looked up in its index
    assert all(f"Bitmap Index Scan on {name}" in plan for name in INDEXES), plan
