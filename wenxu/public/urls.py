from django.urls import path

from wenxu.public import views

app_name = "public"

urlpatterns = [
    path("track", views.track, name="track"),
]
