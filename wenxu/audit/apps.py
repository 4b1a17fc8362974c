from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AuditConfig(AppConfig):
    name = "wenxu.audit"
    verbose_name = pgettext_lazy("app", "安全审计")

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.contrib.auth import signals as auth_signals
        from django.db.models.signals import post_save

        from wenxu.audit import receivers

        auth_signals.user_logged_in.connect(
            receivers.on_user_logged_in, dispatch_uid="wenxu_audit_login"
        )
        auth_signals.user_logged_out.connect(
            receivers.on_user_logged_out, dispatch_uid="wenxu_audit_logout"
        )
        auth_signals.user_login_failed.connect(
            receivers.on_user_login_failed, dispatch_uid="wenxu_audit_login_failed"
        )
        post_save.connect(
            receivers.on_log_entry_saved, sender=LogEntry, dispatch_uid="wenxu_audit_admin"
        )
        receivers.install_bulk_mirror()
