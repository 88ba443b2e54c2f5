# Read by `gunicorn saas.wsgi` from the working directory (the image's /app).
import os

# In a container 0.0.0.0; on the devcluster, whose pods are host processes, the pod's
# own address so that pods do not compete for one port.
bind = f"{os.environ.get('POD_IP') or '0.0.0.0'}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
timeout = 30
graceful_timeout = 5
accesslog = "-"
