"""The BotFather relay: a FastAPI service that talks to @BotFather through one Telethon user account.

The guarded version of ``examples/botfather_relay_unsafe``: one client built in the lifespan, every
Telethon action under ``telethon_lock``, the runtime guard installed, one process per session.

Run it (offline, no Telegram account needed)::

    python -m examples.botfather_relay --port 8000
"""
