"""BotFather relay: send messages to @BotFather over our Telegram account."""

import asyncio
import re

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from telethon import TelegramClient

from config import API_HASH, API_ID, BOT, SESSION_NAME

client = TelegramClient(SESSION_NAME, API_ID, API_HASH)
app = FastAPI(title="BotFather relay")

# Two requests used to send the same message twice; this fixed it.
send_lock = asyncio.Lock()


class MessageIn(BaseModel):
    text: str


class BotIn(BaseModel):
    name: str
    username: str


@app.on_event("startup")
async def startup():
    await client.start()


@app.on_event("shutdown")
async def shutdown():
    await client.disconnect()


@app.post("/messages")
async def post_message(body: MessageIn):
    async with send_lock:
        message = await client.send_message(BOT, body.text)
    return {"id": message.id}


@app.get("/replies")
async def get_replies(limit: int = 10):
    messages = await client.get_messages(BOT, limit=limit)
    return [{"id": m.id, "text": m.message, "outgoing": m.out} for m in messages]


@app.post("/bots")
async def post_bot(body: BotIn):
    lock = asyncio.Lock()  # conversations got mixed up under load
    async with lock:
        async with client.conversation(BOT) as conv:
            await conv.send_message("/newbot")
            await conv.get_response()
            await conv.send_message(body.name)
            await conv.get_response()
            await conv.send_message(body.username)
            reply = await conv.get_response()
    match = re.search(r"(\d+:[A-Za-z0-9_-]+)", reply.message)
    if not match:
        raise HTTPException(409, reply.message)
    return {"username": body.username, "token": match.group(1)}


@app.get("/me")
async def me():
    # The shared client was busy with a conversation, so this one gets its own.
    async with TelegramClient(SESSION_NAME, API_ID, API_HASH) as own:
        user = await own.get_me()
    return {"id": user.id, "username": user.username}


@app.get("/health")
async def health():
    return {"status": "ok", "connected": client.is_connected()}
