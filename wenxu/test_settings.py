"""Settings for the test suite: the real settings with the test switches on."""

import os

os.environ["WENXU_TESTING"] = "1"

from wenxu.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise finds a static file when it is asked for, instead of listing every file of every
# app when its middleware is built: the test client builds the middleware chain once per
# client, and the listing (a stat of each of the ~200 files and of its compressed variants)
# took ~8 % of the suite's time. Static files are served the same way either way.
WHITENOISE_AUTOREFRESH = True
