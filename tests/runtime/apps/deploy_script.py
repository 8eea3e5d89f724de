"""The one-line guard at the top of a script that runs uvicorn itself, with reload.

In the reload child, multiprocessing re-imports this script as ``__mp_main__`` (the guard runs
then, before the child knows it is a uvicorn child) and uvicorn imports it again by name for the app
(the guard is cached and does not run again).
"""

import sys

import uvicorn
from deploy_app import app  # noqa: F401  (DEPLOY_CHECK_AT=none: no check of its own)

import telethon_guard.enforce  # noqa: F401

if __name__ == "__main__":
    uvicorn.run("deploy_script:app", host="127.0.0.1", port=int(sys.argv[1]), reload=True)
