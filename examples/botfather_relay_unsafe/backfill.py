"""Nightly cron job: copy the BotFather chat into botfather_history.jsonl."""

import asyncio
import json

from telethon import TelegramClient

from config import API_HASH, API_ID, BOT, SESSION_NAME


async def main():
    client = TelegramClient(SESSION_NAME, API_ID, API_HASH)
    await client.start()
    with open("botfather_history.jsonl", "w", encoding="utf-8") as out:
        async for message in client.iter_messages(BOT):
            row = {"id": message.id, "date": message.date.isoformat(), "text": message.message}
            out.write(json.dumps(row) + "\n")
    await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
