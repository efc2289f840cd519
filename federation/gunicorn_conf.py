"""Production gunicorn settings: `gunicorn -c python:federation.gunicorn_conf 'federation.wsgi:app'`.

Every value can be overridden with GUNICORN_CMD_ARGS or the FEDERATION_GUNICORN_* vars below.
"""
import multiprocessing
import os
import tempfile

bind = os.environ.get("FEDERATION_BIND", "127.0.0.1:8000")
# Web workers are stateless: any worker can serve any request; the database is the bottleneck.
workers = int(os.environ.get("FEDERATION_WORKERS", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
threads = int(os.environ.get("FEDERATION_THREADS", 4))
# Requests are small and bounded (1 MiB bodies, 5000-entry feed pages): anything slower
# than this is stuck and is better restarted than waited on.
timeout = int(os.environ.get("FEDERATION_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Restart workers now and then so a slow leak cannot grow forever; jitter avoids herds.
max_requests = 20000
max_requests_jitter = 2000
# Proxy headers are trusted only from these addresses (the load balancer); the app's
# FEDERATION_PROXY_HOPS says how many hops of X-Forwarded-* it honours.
forwarded_allow_ips = os.environ.get("FEDERATION_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (for `gunicornc`) defaults to one path per user, so two
# instances run by one user would take over each other's; we stop and reload with
# signals. Opt in with FEDERATION_CONTROL_SOCKET=/run/federation/gunicorn.ctl.
_control_socket = os.environ.get("FEDERATION_CONTROL_SOCKET")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket
# Access logs show the request line (referral codes masked by federation/log_redaction.py),
# never the client's address: with a time it joins a person to their case's creation.
accesslog = os.environ.get("FEDERATION_ACCESS_LOG", "-")
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'

# /metrics (federation/metrics.py): each worker counts into files here, and a scrape adds
# them up. Set before the workers fork (they inherit it) and before any of them imports
# prometheus_client; a fresh directory per start, so counts begin at zero with the service.
_made_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="federation-metrics-")


def child_exit(server, worker):
    """A worker ended (max_requests, a crash): drop its live-gauge files; its counts stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """gunicorn stops: remove the metrics directory we made (not one the operator gave)."""
    if _made_metrics_dir:
        import shutil

        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
