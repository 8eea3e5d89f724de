"""Example services for telethon-guard (importable so ``uvicorn examples.botfather_relay.app:app`` works)."""
