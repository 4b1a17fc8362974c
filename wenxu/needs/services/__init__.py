"""One service per lifecycle action (DESIGN §3). The only code that changes `Need.status`.

Callers use `from wenxu.needs import services` and `services.need_<verb>(...)`; the modules
split the actions by stage. The shared plumbing (rights, lock, version, events) is in `_core`.
"""

from wenxu.needs.services._core import actor_roles
from wenxu.needs.services.attachments import (
    MAX_ATTACHMENTS,
    PreparedUpload,
    attachment_add,
    attachment_discard_files,
    prepare_upload,
)
from wenxu.needs.services.closing import (
    need_callback,
    need_expire_callback,
    need_fulfil,
    need_reopen,
    need_reply,
)
from wenxu.needs.services.disclosure import need_disclose_to_unit, need_set_about_unit
from wenxu.needs.services.external import ExternalClient, need_register_external
from wenxu.needs.services.handling import (
    need_accept,
    need_approve_extension,
    need_assign,
    need_deny_extension,
    need_progress,
    need_request_extension,
    need_return,
)
from wenxu.needs.services.observed import need_confirm_observed
from wenxu.needs.services.online import need_submit_online
from wenxu.needs.services.oversight import (
    need_merge,
    need_remind,
    need_supervise,
    need_withdraw,
    remind_cycle,
)
from wenxu.needs.services.register import (
    Origin,
    RequesterInput,
    need_register,
    need_register_on_the_spot,
    need_replay,
)
from wenxu.needs.services.reopen import (
    RatingLinkExpired,
    RatingLinkUsed,
    RatingSuperseded,
    need_rate,
    rating_link_problem,
    reopen_request_accept,
    reopen_request_decline,
)

__all__ = [
    "MAX_ATTACHMENTS",
    "ExternalClient",
    "Origin",
    "PreparedUpload",
    "RatingLinkExpired",
    "RatingLinkUsed",
    "RatingSuperseded",
    "RequesterInput",
    "actor_roles",
    "attachment_add",
    "attachment_discard_files",
    "need_accept",
    "need_approve_extension",
    "need_assign",
    "need_callback",
    "need_confirm_observed",
    "need_deny_extension",
    "need_disclose_to_unit",
    "need_expire_callback",
    "need_fulfil",
    "need_merge",
    "need_progress",
    "need_rate",
    "need_register",
    "need_register_external",
    "need_register_on_the_spot",
    "need_remind",
    "need_reopen",
    "need_replay",
    "need_reply",
    "need_request_extension",
    "need_return",
    "need_set_about_unit",
    "need_submit_online",
    "need_supervise",
    "need_withdraw",
    "prepare_upload",
    "rating_link_problem",
    "remind_cycle",
    "reopen_request_accept",
    "reopen_request_decline",
]
