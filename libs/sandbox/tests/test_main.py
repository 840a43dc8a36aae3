"""`python -m threadline.sandbox` as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

ENV = {
    "THREADLINE_WHATSAPP_APP_SECRET": "main-secret",
    "THREADLINE_WHATSAPP_ACCESS_TOKEN": "main-token",
    "THREADLINE_SANDBOX_PORT": "0",
    "THREADLINE_LOG_LEVEL": "INFO",
}


async def start_sandbox(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "threadline.sandbox",
        env={**os.environ, **env},
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sandbox_logs_its_port_and_stops_gracefully_on_sigterm() -> None:
    process = await start_sandbox(ENV)
    assert process.stderr is not None
    async with asyncio.timeout(20):
        started = (await process.stderr.readline()).decode()
        while "sandbox started on :" not in started:
            started = (await process.stderr.readline()).decode()

        process.send_signal(signal.SIGTERM)
        rest = (await process.stderr.read()).decode()
        code = await process.wait()

    assert started.rstrip().split(":")[-1].isdigit()
    assert code == 0 and "sandbox stopped" in rest


async def test_sandbox_refuses_to_start_without_the_app_secret() -> None:
    env = {**ENV, "THREADLINE_WHATSAPP_APP_SECRET": ""}

    process = await start_sandbox(env)
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()

    assert process.returncode == 2
    assert "THREADLINE_WHATSAPP_APP_SECRET" in stderr.decode()
