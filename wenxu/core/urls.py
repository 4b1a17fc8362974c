from django.urls import path

from wenxu.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("help/", views.help_index, name="help"),
    path("healthz", views.healthz, name="healthz"),
]
