from django.urls import path

from wenxu.needs.views import (
    attachments,
    capture,
    detail,
    disclosure,
    ledger,
    ledger_import,
    reopen_requests,
    reveal,
)

app_name = "needs"

urlpatterns = [
    path("needs/new/", capture.capture, name="capture"),
    # Before "needs/<number>/<action>/", which would take these for a need's action.
    path("needs/new/areas/", capture.capture_areas, name="capture_areas"),
    path("needs/new/categories/", capture.capture_categories, name="capture_categories"),
    path("needs/new/precision/", capture.capture_precision, name="capture_precision"),
    path(
        "needs/<str:number>/attachments/<int:pk>/",
        attachments.attachment,
        name="attachment",
    ),
    path("ledger/", ledger.ledger, name="ledger"),
    path("ledger/bulk-assign/", ledger.bulk_assign, name="bulk_assign"),
    path("ledger/import/", ledger_import.ledger_import, name="ledger_import"),
    path(
        "ledger/import/template.xlsx",
        ledger_import.ledger_import_template,
        name="ledger_import_template",
    ),
    path(
        "ledger/import/<str:batch_id>/",
        ledger_import.ledger_import_batch,
        name="ledger_import_batch",
    ),
    path(
        "ledger/import/<str:batch_id>/commit/",
        ledger_import.ledger_import_commit,
        name="ledger_import_commit",
    ),
    path(
        "ledger/import/<str:batch_id>/report.xlsx",
        ledger_import.ledger_import_report,
        name="ledger_import_report",
    ),
    path("search/", ledger.search, name="search"),
    path("reopen-requests/", reopen_requests.reopen_requests, name="reopen_requests"),
    path(
        "reopen-requests/<int:pk>/decide/",
        reopen_requests.reopen_request_decide,
        name="reopen_request_decide",
    ),
    path(
        "needs/<str:number>/requester/reveal/",
        reveal.requester_reveal,
        name="requester_reveal",
    ),
    # Before "needs/<number>/<action>/", which would take it for a lifecycle action (issue #9).
    path("needs/<str:number>/disclosure/", disclosure.disclosure, name="disclosure"),
    path("needs/<str:number>/", detail.detail, name="detail"),
    path("needs/<str:number>/<str:action>/", detail.act, name="act"),
]
