"""In-app notifications, view-only: they are written by the notification tasks."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from wenxu.needs.admin import ViewOnlyAdmin, scoped_needs
from wenxu.notify.models import Notification


@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin):
    list_display = ("message", "recipient", "need", "created_at", "read_at")
    list_filter = (("read_at", admin.EmptyFieldListFilter),)
    search_fields = ("message", "recipient__username", "need__number")
    list_select_related = ("recipient", "need")
    show_full_result_count = False
    fields = ("recipient", "need", "event", "message", "created_at", "read_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(need__in=scoped_needs(request).values("pk"))
