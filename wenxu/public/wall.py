"""/wall: 回音墙, the public board (optional per deployment, off by default).

`WENXU_PUBLIC_WALL` turns it on; while off it answers 404. It shows resolved needs whose
requesters agreed, anonymised, and each unit's responsiveness counted fairly: see
`wenxu.public.responsiveness`.
"""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from wenxu.public.responsiveness import unit_responsiveness, wall_page


@require_GET
def wall(request: HttpRequest) -> HttpResponse:
    """回音墙: the last 90 days' resolved needs (consented, anonymised) and units' replies."""
    if not settings.WENXU_PUBLIC_WALL:
        raise Http404
    page = wall_page(request.GET.get("page"))
    context = {
        "page": page,
        "entries": page.object_list,
        # The measures are the same on every page: shown with the first.
        "measures": unit_responsiveness() if page.number == 1 else None,
        "submit_on": settings.WENXU_PUBLIC_SUBMIT,
    }
    return render(request, "public/wall.html", context)
