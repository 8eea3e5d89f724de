"""A gunicorn config file that turns on reload (one worker)."""

workers = 1
reload = True
