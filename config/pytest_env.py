"""Test environment defaults, loaded by pytest (`-p config.pytest_env`) before Django starts.

Settings are read at import, before any conftest runs, so the values a test run
needs (a non-dev secret key, the test host, no HTTPS redirect) are set here.
Values already in the environment (CI's DATABASE_URL, REDIS_URL) win.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("ATRIUM_TESTING", "true")

import tempfile

# Each test run signs with a fresh key in a temporary directory, not the dev key in var/.
if "JWT_KEYS_DIR" not in os.environ:
    os.environ["JWT_KEYS_DIR"] = tempfile.mkdtemp(prefix="atrium-test-jwt-")
# Hypothesis keeps its example database and caches there too, not in the checkout.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="atrium-test-hypothesis-"))

# An empty PROMETHEUS_MULTIPROC_DIR (an exported env file) is "not set", as config/env.py has it; dropped
# here already, before any test module imports prometheus_client, which would otherwise switch to
# multiprocess mode and write sample files into the current directory (the checkout).
for _name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
    if not os.environ.get(_name, "x").strip():
        del os.environ[_name]
