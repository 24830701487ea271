"""Read by gunicorn from the working directory (the Procfile's web process).

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its metrics there and /metrics adds
up every process's (integration/metrics.py); a worker that exits is marked dead so its gauges stop
counting. https://prometheus.github.io/client_python/multiprocess/
"""
import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
