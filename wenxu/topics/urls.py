from django.urls import URLPattern, path

from wenxu.topics import views

app_name = "topics"

urlpatterns: list[URLPattern] = [
    path("", views.topic_list, name="list"),
    path("new/", views.topic_create, name="create"),
    path("attach/", views.topic_attach, name="attach"),
    path("<int:pk>/", views.topic_detail, name="detail"),
    path("<int:pk>/edit/", views.topic_edit, name="edit"),
    path("<int:pk>/suggestions/", views.topic_suggestions, name="suggestions"),
    path("<int:pk>/status/", views.topic_status, name="status"),
    path("<int:pk>/close/", views.topic_close, name="close"),
    path("<int:pk>/link/", views.topic_link, name="link"),
    path("<int:pk>/unlink/", views.topic_unlink, name="unlink"),
    path("<int:pk>/measures/", views.measure_add, name="measure_add"),
    path(
        "<int:pk>/measures/<int:measure_id>/status/",
        views.measure_status,
        name="measure_status",
    ),
    path("<int:pk>/milestones/", views.milestone_add, name="milestone_add"),
    path(
        "<int:pk>/milestones/<int:milestone_id>/complete/",
        views.milestone_complete,
        name="milestone_complete",
    ),
]
