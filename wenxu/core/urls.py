from django.urls import path

from wenxu.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("help/", views.help_index, name="help"),
    path("help/img/<str:name>", views.help_image, name="help_image"),
    path("help/<slug:slug>/", views.help_page, name="help_page"),
    path("healthz", views.healthz, name="healthz"),
]
