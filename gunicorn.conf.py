"""gunicorn's settings for the production image: uvicorn workers, JSON logs, no raw access log.

The Dockerfile runs `gunicorn --config gunicorn.conf.py`; GUNICORN_CMD_ARGS or flags override.
"""

import os

from app.logs import logging_config
from app.settings import get_settings

# Unsafe production settings (a default DELPHI_SECRET_KEY) stop the master here, in one line.
_settings = get_settings()

wsgi_app = "app.main:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
# Each worker pools DELPHI_MAX_INFLIGHT_REQUESTS + 2 × DELPHI_HEAVY_SLOTS connections (+ 4 by
# default), and each render under way in its DELPHI_HEAVY_SLOTS render processes holds one more:
# keep the total under PostgreSQL's max_connections (100 by default).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 120  # a large study's PDF report takes a while to render
graceful_timeout = 30
keepalive = 5
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
control_socket_disable = True  # gunicorn 24+: no runtime control socket in $HOME
accesslog = None  # app.logs.AccessLog writes one line per request, secrets redacted
# Believe no X-Forwarded-* here, whatever FORWARDED_ALLOW_IPS says (`*` would let a client pick
# its own address): the app applies DELPHI_TRUSTED_PROXIES itself, right-most entry first.
forwarded_allow_ips = ""
logconfig_dict = logging_config(_settings.log_level)
