"""Early signals (issue #7 §6): the 预警信号 page and turning a signal into a visit task."""

from django.urls import URLPattern, path

from wenxu.insight import signal_views

urlpatterns: list[URLPattern] = [
    path("signals/", signal_views.signal_list, name="signals"),
    path("signals/<int:pk>/", signal_views.signal_detail, name="signal"),
    path("signals/<int:pk>/task/", signal_views.signal_task, name="signal_task"),
    path("signals/<int:pk>/dismiss/", signal_views.signal_dismiss, name="signal_dismiss"),
]
