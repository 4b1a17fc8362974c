"""The area and category pickers of the capture form: what a user may choose, and search.

Search finds a name by any part of it, by its pinyin initials ("dhc" → 东河村) or its pinyin, and
finds the areas under a place by the place's name ("dhz" → every grid of 东河镇). Grids come
first: a need recorded at grid level reaches the grid worker who can follow it up.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib import pinyin
from wenxu.needs import states
from wenxu.needs.models import Category
from wenxu.organisations.models import Area

REGISTER_ROLES = frozenset({states.OFFICER, states.DISPATCHER})
SEARCH_LIMIT = 50
LIST_LIMIT = 300
_LEVEL_ORDER: list[str] = [
    Area.Level.GRID,
    Area.Level.VILLAGE,
    Area.Level.TOWNSHIP,
    Area.Level.COUNTY,
]


@dataclass(frozen=True)
class Option:
    id: int
    label: str


@dataclass
class Group:
    label: str
    options: list[Option] = field(default_factory=list)


@dataclass
class Choices:
    groups: list[Group]
    found: int  # how many matched
    shown: int  # how many are listed (at most the limit, plus the selected one)
    query: str = ""

    @property
    def truncated(self) -> bool:
        return self.found > self.shown


def registration_area_roots(user: User) -> list[str]:
    """The paths of the area subtrees where `user` may register needs (officer or dispatcher)."""
    paths = sorted(
        {s.area_path for s in scopes_for_user(user) if s.area_path and s.role in REGISTER_ROLES}
    )
    roots: list[str] = []
    for path in paths:  # sorted, so an ancestor comes before its descendants
        if not any(path.startswith(root) for root in roots):
            roots.append(path)
    return roots


def registration_areas(user: User) -> QuerySet[Area]:
    roots = registration_area_roots(user) if user.is_active else []
    if not roots:
        return Area.objects.none()
    return Area.objects.filter(reduce(or_, (Q(path__startswith=root) for root in roots)))


def _ranked(
    rows: Iterable[tuple[int, str, str]], names: dict[int, str], query: str
) -> list[tuple[int, int, str]]:
    """(rank, id, path) of the rows matching `query`: 0 by their own name, 1 by an ancestor's."""
    matched: list[tuple[int, int, str]] = []
    for pk, name, path in rows:
        if pinyin.matches(name, query):
            matched.append((0, pk, path))
        elif query and any(
            pinyin.matches(names[a], query) for a in _ancestor_ids(path, pk) if a in names
        ):
            matched.append((1, pk, path))
    return matched


def _ancestor_ids(path: str, pk: int) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part and int(part) != pk]


def area_choices(user: User, *, query: str = "", selected: int | None = None) -> Choices:
    """The areas `user` may register in that match `query`, grouped by level, grids first."""
    rows = list(registration_areas(user).values_list("id", "name", "path", "level"))
    names = {pk: name for pk, name, _path, _level in rows}
    paths = {pk: path for pk, _name, path, _level in rows}
    level_of = {pk: level for pk, _name, _path, level in rows}
    matched = _ranked(((pk, name, path) for pk, name, path, _level in rows), names, query)
    matched.sort(key=lambda m: (m[0], _LEVEL_ORDER.index(level_of[m[1]]), m[2]))
    limit = SEARCH_LIMIT if query else LIST_LIMIT
    shown = [pk for _rank, pk, _path in matched[:limit]]
    if selected in names and selected not in shown:
        shown.append(selected)
    groups: dict[str, Group] = {
        level: Group(str(Area.Level(level).label)) for level in _LEVEL_ORDER
    }
    for pk in shown:
        context = [names[a] for a in _ancestor_ids(paths[pk], pk) if a in names]
        label = f"{names[pk]}（{' / '.join(context)}）" if context else names[pk]
        groups[level_of[pk]].options.append(Option(pk, label))
    return Choices(
        groups=[g for g in groups.values() if g.options],
        found=len(matched),
        shown=len(shown),
        query=query,
    )


def category_choices(*, query: str = "", selected: int | None = None) -> Choices:
    """Active categories matching `query`, in tree order, each labelled with its full path."""
    rows = list(Category.objects.filter(active=True).values_list("id", "name", "path"))
    names = {pk: name for pk, name, _path in rows}
    paths = {pk: path for pk, _name, path in rows}
    matched = _ranked(rows, names, query)
    matched.sort(key=lambda m: (m[0], m[2]))
    limit = SEARCH_LIMIT if query else LIST_LIMIT
    shown = [pk for _rank, pk, _path in matched[:limit]]
    if selected in names and selected not in shown:
        shown.append(selected)
    group = Group("")
    for pk in shown:
        trail = [names[a] for a in _ancestor_ids(paths[pk], pk) if a in names]
        group.options.append(Option(pk, " / ".join([*trail, names[pk]])))
    return Choices(
        groups=[group] if shown else [], found=len(matched), shown=len(shown), query=query
    )


def no_match_message(query: str) -> str:
    return _("没有找到“%(q)s”，请换个名称或拼音首字母再试。") % {"q": query}
