from django.urls import path

from wenxu.public import rating, submit, views, wall

app_name = "public"

urlpatterns = [
    path("track", views.track, name="track"),
    # The rating link from a text message: /r/<signed token>
    path("r/<str:token>", rating.rate, name="rate"),
    # Optional per deployment (WENXU_PUBLIC_SUBMIT, WENXU_PUBLIC_WALL): 404 while off.
    path("submit", submit.submit, name="submit"),
    path("submit/areas", submit.submit_areas, name="submit_areas"),
    path("wall", wall.wall, name="wall"),
]
