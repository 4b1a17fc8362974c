from django.urls import path

from wenxu.visits.views import capture, coverage, places, visits

app_name = "visits"

urlpatterns = [
    # Offline-first field capture (PWA): pages the service worker keeps, and the outbox.
    path("visits/new/", capture.visit_capture, name="capture"),
    path("visits/need/new/", capture.need_capture, name="need_capture"),
    path("visits/outbox/", capture.outbox, name="outbox"),
    path("sw.js", capture.service_worker, name="service_worker"),
    path("manifest.webmanifest", capture.manifest, name="manifest"),
    # 我的走访 and a visit's page.
    path("visits/", visits.visit_list, name="list"),
    path("visits/<int:pk>/", visits.visit_detail, name="detail"),
    path("visits/<int:pk>/photos/<int:photo>/", visits.visit_photo, name="photo"),
    # Places (住户 / 企业 / 公共场所) per grid.
    path("places/", places.place_list, name="places"),
    path("places/new/", places.place_create, name="place_create"),
    path("places/import/", places.place_import, name="place_import"),
    path("places/import/template.xlsx", places.place_import_template, name="place_template"),
    path("places/<int:pk>/", places.place_detail, name="place"),
    path("places/<int:pk>/edit/", places.place_edit, name="place_edit"),
    # Plans and coverage.
    path("coverage/", coverage.coverage, name="coverage"),
    path("coverage/plans/", coverage.plan_list, name="plans"),
    path("coverage/plans/new/", coverage.plan_create, name="plan_create"),
    path("coverage/plans/<int:pk>/", coverage.plan_edit, name="plan_edit"),
]
