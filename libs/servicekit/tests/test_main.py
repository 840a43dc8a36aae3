"""`service_main`, the body of every service's `__main__`, run as a service runs: in a process of
its own (it configures logging and tracing for the whole process, and waits for a signal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = """
import gc
import os
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack

from opentelemetry import trace

from threadline.servicekit.config import ConfigError, env_str
from threadline.servicekit.main import service_main


def load(env: Mapping[str, str]) -> str:
    return env_str(env, "THREADLINE_TESTER_GREETING")


async def start(greeting: str, stack: AsyncExitStack) -> None:
    resource = trace.get_tracer_provider().resource
    print(f"started with {greeting!r} as {resource.attributes['service.name']}", flush=True)
    collector = lambda: f"frozen {gc.get_freeze_count() > 0}, young {gc.get_threshold()[0]}"
    print(f"while starting: {collector()}")
    stack.callback(print, "stack unwound", flush=True)
    stack.callback(lambda: print(f"once started: {collector()}"))
    os.kill(os.getpid(), signal.SIGTERM)


service_main("tester", load, start, env={ENV})
"""


def run_service(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(PROGRAM).replace("{ENV}", repr(env))
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_configuration_error_is_one_line_naming_the_variable_and_exit_status_2() -> None:
    ran = run_service({})

    assert ran.returncode == 2
    assert ran.stdout == ""
    (line,) = ran.stderr.splitlines()
    assert line.endswith(
        "ERROR tester threadline.tester: threadline-tester: "
        "Config 'THREADLINE_TESTER_GREETING' is missing, and has no default."
    )


def test_the_service_runs_traced_as_threadline_tester_until_a_signal() -> None:
    ran = run_service({"THREADLINE_TESTER_GREETING": "hello"})

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "started with 'hello' as threadline-tester",
        "while starting: frozen False, young 700",
        # The heap made by starting is frozen, the youngest generation collected less often.
        "once started: frozen True, young 10000",
        "stack unwound",
    ]
    assert [line.split(" ", 2)[2] for line in ran.stderr.splitlines()] == [
        "INFO tester threadline.servicekit.lifecycle: tester started",
        "INFO tester threadline.servicekit.lifecycle: tester stopping",
        "INFO tester threadline.servicekit.lifecycle: tester stopped",
    ]
