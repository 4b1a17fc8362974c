import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wenxu.organisations import models
from wenxu.organisations.models import Area, Unit, path_segment


@pytest.fixture
def tree(db):
    county = Area.objects.create(name="青山县", level="county")
    town = Area.objects.create(name="东河镇", level="township", parent=county)
    village = Area.objects.create(name="东河村", level="village", parent=town)
    grid = Area.objects.create(name="第一网格", level="grid", parent=village)
    other = Area.objects.create(name="西岭乡", level="township", parent=county)
    return county, town, village, grid, other


def _path(*nodes):
    return "/" + "".join(f"{path_segment(node.pk)}/" for node in nodes)


def test_paths_and_depths_follow_the_parents(tree):
    county, town, village, grid, _other = tree
    assert county.path == _path(county)
    assert grid.path == _path(county, town, village, grid)
    assert [county.depth, town.depth, village.depth, grid.depth] == [0, 1, 2, 3]
    assert grid.ancestors_and_self_ids() == [county.pk, town.pk, village.pk, grid.pk]


def test_subtree_holds_descendants_and_self_only(tree):
    _county, town, village, grid, other = tree
    assert set(town.subtree()) == {town, village, grid}
    assert other not in town.subtree()


def test_moving_a_node_rewrites_its_descendants(tree):
    county, town, village, grid, other = tree
    village.parent = other
    village.save()
    grid.refresh_from_db()
    assert grid.path == _path(county, other, village, grid)
    assert grid.depth == 3
    assert set(town.subtree()) == {town}
    assert grid in other.subtree()


def test_moving_up_a_level_updates_depths(tree):
    county, _town, village, grid, _other = tree
    village.parent = county
    village.save()
    grid.refresh_from_db()
    assert grid.depth == 2
    assert grid.path == _path(county, village, grid)


def test_a_node_cannot_move_under_its_own_descendant(tree):
    _county, town, _village, grid, _other = tree
    town.parent = grid
    with pytest.raises(ValidationError) as error:
        town.full_clean()
    assert "上级不能是自身或自身的下级" in str(error.value)


def test_ordering_by_path_is_depth_first_even_when_ids_differ_in_length(db):
    # "/2/3/" against "/23/": with unpadded ids PostgreSQL's locale collations, which ignore
    # the slashes, could not tell them apart; fixed-width segments keep depth-first order.
    root = Area.objects.create(name="县", level="county")
    towns = [Area.objects.create(name=f"镇{i}", level="township", parent=root) for i in range(25)]
    child = Area.objects.create(name="村", level="village", parent=towns[0])
    ordered = list(Area.objects.filter(path__startswith=root.path).order_by("path"))
    assert ordered[:3] == [root, towns[0], child]
    assert ordered[3:] == towns[1:]


def test_ids_like_prefixes_do_not_leak_between_subtrees(db):
    # "/1/" must not match "/12/": paths end with a slash for that reason.
    nodes = [Unit.objects.create(name=f"单位{i}", kind="department") for i in range(13)]
    first = nodes[0]
    assert set(first.subtree()) == {first}


def test_a_tree_created_at_once_has_the_paths_that_saving_each_node_gives(tree):
    county, town, _village, _grid, _other = tree
    # given new nodes under a saved one, listed children first, two levels deep
    new_village = Area(name="新村", level="village", parent=town)
    new_grid = Area(name="新村第一网格", level="grid", parent=new_village)
    new_town = Area(name="南山镇", level="township", parent=county)
    new_county = Area(name="白水县", level="county")

    with CaptureQueriesContext(connection) as queries:
        Area.create_tree([new_grid, new_village, new_town, new_county])

    stored = {a.pk: (a.path, a.depth) for a in Area.objects.all()}
    assert stored[new_grid.pk] == (_path(county, town, new_village, new_grid), 3)
    assert stored[new_village.pk] == (_path(county, town, new_village), 2)
    assert stored[new_town.pk] == (_path(county, new_town), 1)
    assert stored[new_county.pk] == (_path(new_county), 0)
    assert (new_grid.path, new_grid.depth) == stored[new_grid.pk]  # the objects too
    # one INSERT per depth, the saved parent's path read once, one UPDATE
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements.count("INSERT") == 2
    assert statements.count("UPDATE") == 1


def test_a_large_tree_writes_its_paths_in_batches(db, monkeypatch):
    # given a batch size of two nodes and a tree of five
    monkeypatch.setattr(models, "PATH_BATCH", 2)
    root = Unit(name="县政府", kind="department")
    children = [Unit(name=f"局{i}", kind="department", parent=root) for i in range(4)]

    with CaptureQueriesContext(connection) as queries:
        Unit.create_tree([root, *children])

    # then three UPDATEs wrote every path and depth
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements.count("UPDATE") == 3
    stored = {u.pk: (u.path, u.depth) for u in Unit.objects.all()}
    assert stored[root.pk] == (_path(root), 0)
    assert all(stored[c.pk] == (_path(root, c), 1) for c in children)


def test_a_tree_whose_parent_is_neither_saved_nor_given_is_refused(db):
    orphan_parent = Unit(name="未保存的局", kind="department")
    child = Unit(name="下属中心", kind="department", parent=orphan_parent)

    with pytest.raises(ValueError, match="neither saved nor given"):
        Unit.create_tree([child])

    assert not Unit.objects.exists()
