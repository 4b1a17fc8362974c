from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class TopicsConfig(AppConfig):
    name = "wenxu.topics"
    verbose_name = pgettext_lazy("app", "专题")

    def ready(self) -> None:
        from wenxu.needs.selectors import register_side_read
        from wenxu.topics.models import TopicNeed
        from wenxu.topics.selectors import SIDE_READ

        # The need page learns whether the need has topic links with its other side reads.
        register_side_read(SIDE_READ, TopicNeed, "need")
