"""专题 in the admin: read-only, for looking things up. Every change goes through the pages
under /topics/ (topics.services: rights, versions, 办理记录 and residents' messages).

A staff user who is not a superuser sees only the topics their roles let them see
(`topics.selectors`) and, among the linked needs, only those the need scoping lets them see.
"""

from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from wenxu.accounts.models import User
from wenxu.needs.admin import ViewOnlyAdmin, scoped_needs
from wenxu.topics import selectors
from wenxu.topics.models import Measure, Milestone, Topic, TopicEvent, TopicNeed


def scoped_topics(request: HttpRequest) -> QuerySet[Topic]:
    """The topics the admin user may see: all for a superuser, else the topic selector's."""
    user = request.user
    if user.is_superuser:
        return Topic.objects.all()
    assert isinstance(user, User)
    return selectors.topic_queryset_for_user(user=user)


class ReadOnlyInline(admin.TabularInline[Any, Topic]):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MeasureInline(ReadOnlyInline):
    model = Measure
    fields = ("title", "owner_unit", "due_date", "status", "done_at")


class MilestoneInline(ReadOnlyInline):
    model = Milestone
    fields = ("title", "progress", "due_date", "completed_at", "note")


class TopicEventInline(ReadOnlyInline):
    model = TopicEvent
    fields = ("at", "actor", "action", "note")


@admin.register(Topic)
class TopicAdmin(ViewOnlyAdmin):
    list_display = ("title", "status", "area", "category", "owner_unit", "created_at")
    list_filter: ClassVar = ["status"]
    list_select_related = ("area", "category", "owner_unit")
    search_fields = ("title",)
    inlines: ClassVar = [MeasureInline, MilestoneInline, TopicEventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        return super().get_queryset(request).filter(pk__in=scoped_topics(request).values("pk"))


@admin.register(TopicNeed)
class TopicNeedAdmin(ViewOnlyAdmin):
    list_display = ("topic", "need", "linked_by", "linked_at")
    list_select_related = ("topic", "need", "linked_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TopicNeed]:
        qs: QuerySet[TopicNeed] = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            need__in=scoped_needs(request).values("pk"),
            topic__in=scoped_topics(request).values("pk"),
        )
