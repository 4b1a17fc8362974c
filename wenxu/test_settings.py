"""Settings for the test suite: the real settings with the test switches on."""

import os

os.environ["WENXU_TESTING"] = "1"

from wenxu.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
