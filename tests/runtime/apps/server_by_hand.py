"""uvicorn.Server run by hand in a spawned helper process: one process, whatever Config.workers says.

With WEB_CONCURRENCY set, uvicorn.Config reads workers=N from it, but a Server run directly serves
from this one process.
"""

import multiprocessing
import sys

import uvicorn


def serve(port: int) -> None:
    from deploy_app import app

    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on")).run()


if __name__ == "__main__":
    helper = multiprocessing.get_context("spawn").Process(target=serve, args=(int(sys.argv[1]),))
    helper.start()
    helper.join()
