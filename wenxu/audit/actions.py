"""What the security log records (issue #9): one constant per kind of entry, with its label.

An action name is stored in every entry and is part of its hash: never rename one; add new ones.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
LOCKOUT = "lockout"
PASSWORD_CHANGE = "password_change"  # noqa: S105 (an action name)
OTP_ENROL = "otp_enrol"
OTP_FAILED = "otp_failed"
TOKEN_ISSUE = "token_issue"  # noqa: S105
TOKEN_REVOKE = "token_revoke"  # noqa: S105
APIKEY_ISSUE = "apikey_issue"
APIKEY_REVOKE = "apikey_revoke"
USER_CHANGE = "user_change"
ROLE_CHANGE = "role_change"
SETTING_CHANGE = "setting_change"
REVEAL = "reveal"
DISCLOSE = "disclose"
EXPORT = "export"
IMPORT = "import"
ERASURE = "erasure"
RETENTION = "retention"
AUDIT_PRUNE = "audit_prune"
AUDIT_HEAD_REBUILT = "audit_head_rebuilt"
BACKUP = "backup"
RESTORE = "restore"

LABELS: dict[str, Promise] = {
    LOGIN: _("登录"),
    LOGIN_FAILED: _("登录失败"),
    LOGOUT: _("退出登录"),
    LOCKOUT: _("账号锁定"),
    PASSWORD_CHANGE: _("修改密码"),
    OTP_ENROL: _("绑定动态口令"),
    OTP_FAILED: _("动态口令错误"),
    TOKEN_ISSUE: _("签发个人令牌"),
    TOKEN_REVOKE: _("吊销个人令牌"),
    APIKEY_ISSUE: _("签发接口密钥"),
    APIKEY_REVOKE: _("吊销接口密钥"),
    USER_CHANGE: _("账号变更"),
    ROLE_CHANGE: _("角色或范围变更"),
    SETTING_CHANGE: _("配置变更"),
    REVEAL: _("查看个人信息"),
    DISCLOSE: _("向被批评单位公开"),
    EXPORT: _("导出"),
    IMPORT: _("导入"),
    ERASURE: _("删除个人信息"),
    RETENTION: _("到期匿名化"),
    AUDIT_PRUNE: _("清理审计日志"),
    AUDIT_HEAD_REBUILT: _("审计链头重建"),
    BACKUP: _("备份"),
    RESTORE: _("恢复"),
}
CHOICES = list(LABELS.items())
