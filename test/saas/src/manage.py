#!/usr/bin/env python3
"""Django's command-line utility for the runbook's SaaS (test/saas)."""
import os
import sys


def termination_log():
    """The file Kubernetes reads as the container's termination message: the
    devcluster's stand-in when it gives one, else /dev/termination-log when the
    kubelet created it. None outside a pod."""
    path = os.environ.get("RUNBOOK_TERMINATION_LOG")
    if path:
        return path
    if os.path.exists("/dev/termination-log"):
        return "/dev/termination-log"
    return None


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except Exception as exc:
        # A failed command (a migration that fails, a missing setting) ends the
        # container with Django's error as its termination message, so
        # `kubectl get pod -o yaml` and the operator's status can say what failed.
        path = termination_log()
        if path:
            with open(path, "w") as f:
                f.write(f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:4000])
        raise


if __name__ == "__main__":
    main()
