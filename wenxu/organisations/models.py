"""Areas (区划 / 网格) and responsible units (责任单位), both trees kept as materialised paths.

A path is "/<id>/<id>/…/" from the root, each id zero-padded to ten digits, so "everything under
X" is one indexed prefix match, and ordering by path lists a tree depth-first on every database
(PostgreSQL's locale collations ignore the slashes; fixed-width ids make that harmless).
"""

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Self

from django.db import connections, models, router, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

PATH_WIDTH = 10


def path_segment(pk: int) -> str:
    return f"{pk:0{PATH_WIDTH}d}"


def path_roots(paths: Iterable[str]) -> list[str]:
    """The subtrees `paths` name, with every path inside another one dropped, in tree order."""
    roots: list[str] = []
    for path in sorted(set(paths)):  # an ancestor sorts before its descendants
        if not any(path.startswith(root) for root in roots):
            roots.append(path)
    return roots


def under_q(paths: Iterable[str], field: str = "") -> models.Q:
    """Matches rows whose node (`<field>__path`, or the row's own `path`) lies in any of the
    subtrees `paths`; matches nothing when `paths` is empty."""
    lookup = f"{field}__path__startswith" if field else "path__startswith"
    q = models.Q(pk__in=[])
    for path in path_roots(paths):
        q |= models.Q(**{lookup: path})
    return q


class TreeNode(models.Model):
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(_("路径"), max_length=255, editable=False, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(_("层级"), editable=False, default=0)

    parent_id: int | None

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        model: Any = type(self)
        with transaction.atomic():
            old_path = self.path
            if not self.pk:
                super().save(*args, **kwargs)
                kwargs = {}
            parent_path = model.objects.get(pk=self.parent_id).path if self.parent_id else "/"
            new_path = f"{parent_path}{path_segment(self.pk)}/"
            self.path = new_path
            self.depth = new_path.count("/") - 2
            super().save(*args, **kwargs)
            if old_path and old_path != new_path:
                # Moved: rewrite every descendant's path in one statement.
                model.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                    path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
                )
                for node in model.objects.filter(path__startswith=new_path).exclude(pk=self.pk):
                    node.depth = node.path.count("/") - 2
                    super(TreeNode, node).save(update_fields=["depth"])

    @classmethod
    def create_tree(cls, nodes: Sequence[Self]) -> list[Self]:
        """Save the new `nodes`, each with its parent saved already or among `nodes`,
        with the paths and depths `save()` gives them: one INSERT per depth, one read of the
        saved parents' paths and one UPDATE of the paths, instead of four statements a node
        (the test suite's `world` builds fourteen nodes for most of its tests)."""
        model: Any = cls
        created = list(nodes)
        with transaction.atomic():
            pending, inserted = created, []
            while pending:  # a depth at a time: a node's parent has its id before it
                ready = [n for n in pending if n.parent is None or n.parent.pk is not None]
                if not ready:
                    raise ValueError("create_tree: a node's parent is neither saved nor given.")
                model.objects.bulk_create(ready)
                inserted += ready
                pending = [n for n in pending if n.pk is None]
            inside = {n.pk: n for n in created}
            outside = {n.parent_id for n in created if n.parent_id and n.parent_id not in inside}
            paths = dict(model.objects.filter(pk__in=outside).values_list("pk", "path"))
            for node in inserted:  # parents before their children
                if node.parent_id is None:
                    parent_path = "/"
                elif node.parent_id in inside:
                    parent_path = inside[node.parent_id].path
                else:
                    parent_path = paths[node.parent_id]
                node.path = f"{parent_path}{path_segment(node.pk)}/"
                node.depth = node.path.count("/") - 2
            _write_paths(model, created)
        return created

    def ancestors_and_self_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def clean(self) -> None:
        super().clean()
        if self.pk and self.parent_id:
            parent = type(self).objects.get(pk=self.parent_id)  # type: ignore[attr-defined]
            if parent.path.startswith(self.path):
                from django.core.exceptions import ValidationError

                raise ValidationError({"parent": _("上级不能是自身或自身的下级。")})

    def subtree(self) -> "models.QuerySet[Self]":
        model: Any = type(self)
        result: models.QuerySet[Self] = model.objects.filter(path__startswith=self.path)
        return result


# Nodes per UPDATE of `_write_paths`: five parameters each, far below SQLite's limit.
PATH_BATCH = 500


def _write_paths(model: Any, nodes: Sequence[TreeNode]) -> None:
    """The nodes' paths and depths, in one UPDATE with a CASE per column for each batch.

    `bulk_update` writes the same statement, but builds a When/Case expression tree for each
    node and field: on the test suite's `world` (fourteen nodes) that took more time than the
    database's part of building the trees.
    """
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    for start in range(0, len(nodes), PATH_BATCH):
        batch = nodes[start : start + PATH_BATCH]
        when = " ".join(["WHEN %s THEN %s"] * len(batch))
        listed = ", ".join(["%s"] * len(batch))
        sql = (  # names quoted from the model's metadata; every value a parameter
            f"UPDATE {table} SET {quote('path')} = CASE {pk} {when} END, "  # noqa: S608
            f"{quote('depth')} = CASE {pk} {when} END WHERE {pk} IN ({listed})"
        )
        params: list[Any] = [v for node in batch for v in (node.pk, node.path)]
        params += [v for node in batch for v in (node.pk, node.depth)]
        params += [node.pk for node in batch]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


class Area(TreeNode):
    class Level(models.TextChoices):
        COUNTY = "county", _("县区")
        TOWNSHIP = "township", _("乡镇街道")
        VILLAGE = "village", _("村社区")
        GRID = "grid", _("网格")

    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("级别"), max_length=16, choices=Level.choices)
    code = models.CharField(
        _("区划代码"), max_length=20, blank=True, help_text=_("统计用区划代码，可不填。")
    )
    households = models.PositiveIntegerField(_("户数"), null=True, blank=True)

    class Meta:
        verbose_name = _("区划网格")
        verbose_name_plural = _("区划网格")
        ordering: ClassVar = ["path"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["code"], condition=~models.Q(code=""), name="area_code_unique"
            ),
            models.UniqueConstraint(fields=["parent", "name"], name="area_name_unique_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name


class Unit(TreeNode):
    class Kind(models.TextChoices):
        DEPARTMENT = "department", _("职能部门")
        TOWNSHIP = "township", _("乡镇街道")
        VILLAGE = "village", _("村社区")
        ENTERPRISE = "enterprise", _("公共服务企业")
        OTHER = "other", _("其他")

    name = models.CharField(_("名称"), max_length=100, unique=True)
    short_name = models.CharField(_("简称"), max_length=30, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    areas = models.ManyToManyField(
        Area, verbose_name=_("服务区域"), blank=True, related_name="units"
    )
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("责任单位")
        verbose_name_plural = _("责任单位")
        ordering: ClassVar = ["path"]

    def __str__(self) -> str:
        return self.short_name or self.name
