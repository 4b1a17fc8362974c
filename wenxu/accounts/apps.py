from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AccountsConfig(AppConfig):
    name = "wenxu.accounts"
    verbose_name = pgettext_lazy("app", "账号与权限")

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in

        from wenxu.accounts import receivers

        user_logged_in.connect(receivers.on_user_logged_in, dispatch_uid="wenxu_login_steps")
        user_locked_out.connect(receivers.on_user_locked_out, dispatch_uid="wenxu_lockout")
