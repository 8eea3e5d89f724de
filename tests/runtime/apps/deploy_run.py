"""Programmatic uvicorn.run(..., workers=N): argv says nothing about the workers."""

import sys

import uvicorn

if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run("deploy_app:app", host="127.0.0.1", port=port, workers=workers, log_level="info")
