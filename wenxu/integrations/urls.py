from django.urls import URLPattern, URLResolver, path

from wenxu.integrations import views

app_name = "keys"

urlpatterns: list[URLPattern | URLResolver] = [
    path("keys/", views.key_list, name="list"),
    path("keys/new/", views.key_create, name="create"),
    path("keys/<int:pk>/edit/", views.key_edit, name="edit"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="revoke"),
]
