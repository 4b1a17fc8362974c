"""Reads of client API keys for the 接口密钥 page, scoped to the viewer's admin areas.

Client keys are managed by users holding the admin role, and by superusers (as if admins of
every top-level area: they manage the webhooks, which need a key). An admin sees a key when
every area it is scoped to lies in one of their admin subtrees; a key scoped to every area (no
areas) only when their subtrees cover every top-level area (a county-wide admin, say).
"""

from django.db.models import QuerySet

from wenxu.accounts.models import Role, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.integrations.models import ApiClient
from wenxu.organisations.models import Area, path_roots, under_q


def admin_roots(user: User) -> list[str]:
    """The area subtrees in which `user` holds the admin role; every top-level area for an
    active superuser (who manages the webhooks of every key, admin membership or not)."""
    if user.is_active and user.is_superuser:
        return path_roots(Area.objects.filter(parent__isnull=True).values_list("path", flat=True))
    return path_roots(
        s.area_path for s in scopes_for_user(user) if s.role == Role.ADMIN and s.area_path
    )


def may_manage_keys(user: User) -> bool:
    return user.is_active and bool(admin_roots(user))


def covers_all_areas(user: User) -> bool:
    """Whether `user`'s admin subtrees include every top-level area."""
    roots = set(admin_roots(user))
    if not roots:
        return False
    top = Area.objects.filter(parent__isnull=True).values_list("path", flat=True)
    return all(path in roots for path in top)


def area_choices(user: User) -> QuerySet[Area]:
    """The areas a key of `user`'s may be scoped to, in tree order."""
    return Area.objects.filter(under_q(admin_roots(user))).only("id", "name", "path", "depth")


def api_client_list_for_user(*, user: User) -> QuerySet[ApiClient]:
    roots = admin_roots(user)
    if not roots:
        return ApiClient.objects.none()
    outside = Area.objects.exclude(under_q(roots))
    clients = ApiClient.objects.exclude(areas__in=outside)
    if not covers_all_areas(user):
        clients = clients.filter(areas__isnull=False).distinct()
    return clients.select_related("created_by").prefetch_related("areas").order_by("name")


def api_client_get_for_user(*, user: User, pk: int) -> ApiClient | None:
    return api_client_list_for_user(user=user).filter(pk=pk).first()
