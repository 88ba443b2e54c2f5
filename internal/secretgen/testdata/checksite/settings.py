# Minimal Django settings for `check --deploy`: the secret key comes from the
# environment, as the SaaS app takes it from its Secret.
import os

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["example.test"]
INSTALLED_APPS = []
MIDDLEWARE = []
ROOT_URLCONF = "urls"
USE_TZ = True
