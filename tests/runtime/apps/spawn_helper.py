"""A plain script and a plain spawned multiprocessing helper: neither is a server worker."""

import multiprocessing

from telethon_guard import check_deployment

# At import time too: the spawned child runs this while multiprocessing re-imports __main__.
check_deployment()


def helper(queue):
    try:
        check_deployment()
        queue.put("child ok")
    except Exception as exc:  # reported to the parent, which prints it
        queue.put(f"child refused: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    check_deployment()
    print("parent ok", flush=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=helper, args=(queue,))
    process.start()
    print(queue.get(timeout=60), flush=True)
    process.join()
