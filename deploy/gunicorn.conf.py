"""gunicorn settings for the web process: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi:application`.

Every value can be overridden from the environment, so one file serves every host size.
"""

import multiprocessing
import os

# Loopback by default: the TLS-terminating proxy runs on the same host. Set BIND to listen elsewhere.
bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# 2 × cores single-threaded processes: while one waits on PostgreSQL or Redis another uses the CPU,
# and no process's threads fight over its GIL. Measured on 2 cores (bench/README.md): 4 × 1 gave
# 404 req/s with p99 69 ms on the patient page; 5 × 4 threads gave more req/s spread, p99 160-210 ms.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
# Threads let a process keep serving while one request streams a clip or receives a large upload;
# with gthread the worker timeout watches the process, not the length of one upload.
worker_class = "gthread"
# The proxy in front buffers slow clients' bodies and responses (docs/deploy.md), so one thread per
# process is enough; raise WEB_THREADS when gunicorn faces clients directly.
threads = int(os.environ.get("WEB_THREADS", 1))
timeout = int(os.environ.get("WEB_TIMEOUT", 300))
graceful_timeout = 30
keepalive = 5
# Recycle processes now and then so a slow leak never grows unbounded; jitter avoids a stampede.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 5000))
max_requests_jitter = 500
# Only the local proxy may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'

# A patient's link is /p/<token>: the token is the key, so the logger class redacts it (and any
# other secret) from every access-log atom and error line, as `make run` does.
logger_class = "portal.logging.RedactingGunicornLogger"
