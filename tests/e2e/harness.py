"""Trains a model for a profile and runs the real Rasa and action servers on 127.0.0.1.

Used by the end-to-end tests and by the benchmark; everything runs from the repo's own
files, with the profile, the CRM database and the tracker store chosen per run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_PREFIXES = ("TELEGRAM_", "WHATSAPP_", "BITRIX24_", "MANAGERS_BOT_")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(profile: Path, **extra: str) -> dict[str, str]:
    # A developer's own platform settings must never make a test call a real platform.
    env = {k: v for k, v in os.environ.items() if not k.startswith(PLATFORM_PREFIXES)}
    env.update(
        PYTHONPATH=str(ROOT),
        BUSINESS_PROFILE=str(profile),
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def train(profile: Path, cache: Path) -> Path:
    """A model for `profile`, trained once per distinct training data (Rasa fingerprints)."""
    data = cache / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("generated"))
    env = environment(profile)
    subprocess.run(
        [
            str(BIN / "python"),
            str(ROOT / "scripts" / "profile_nlu.py"),
            "--out",
            str(data / "generated" / "profile_nlu.yml"),
        ],
        check=True,
        env=env,
        cwd=ROOT,
    )
    subprocess.run(
        [
            str(BIN / "rasa"),
            "train",
            "--data",
            str(data),
            "--domain",
            str(ROOT / "domain.yml"),
            "--config",
            str(ROOT / "config.yml"),
            "--out",
            str(cache / "models"),
            "--fixed-model-name",
            "booking",
        ],
        check=True,
        env=env,
        cwd=cache,
        stdout=subprocess.DEVNULL,
    )
    return cache / "models" / "booking.tar.gz"


@dataclass
class Bot:
    """The two servers of one run, and a REST client that talks to them."""

    model: Path
    profile: Path
    workdir: Path
    crm_url: str
    tracker_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    api_token: str = field(default_factory=lambda: secrets.token_hex(16))
    rasa_args: tuple[str, ...] = ()  # more `rasa run` options, e.g. ("--cors", "*")
    credentials: Path = ROOT / "credentials.yml"

    @property
    def env(self) -> dict[str, str]:
        return environment(
            self.profile,
            CRM_DB_URL=self.crm_url,
            TRACKER_STORE_URL=self.tracker_url,
            **self.extra_env,
        )

    def start(self) -> Bot:
        self.start_actions()
        self.start_rasa()
        return self

    def start_actions(self) -> None:
        log = open(self.workdir / "actions.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "rasa"),
                    "run",
                    "actions",
                    "--actions",
                    "actions",
                    "--port",
                    str(self.actions_port),
                ],
                env={**self.env, "SANIC_HOST": "127.0.0.1"},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.wait(f"http://127.0.0.1:{self.actions_port}/health")

    def start_rasa(self) -> None:
        endpoints = self.workdir / "endpoints.yml"
        endpoints.write_text(
            (ROOT / "endpoints.yml")
            .read_text(encoding="utf-8")
            .replace("127.0.0.1:5055", f"127.0.0.1:{self.actions_port}"),
            encoding="utf-8",
        )
        log = open(self.workdir / "rasa.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "rasa"),
                    "run",
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(self.rasa_port),
                    "--model",
                    str(self.model),
                    "--credentials",
                    str(self.credentials),
                    "--endpoints",
                    str(endpoints),
                    "--enable-api",
                    "--auth-token",
                    self.api_token,
                    *self.rasa_args,
                ],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.wait(f"http://127.0.0.1:{self.rasa_port}/", timeout=240)

    def wait(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a server exited; see the logs in {self.workdir}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise TimeoutError(f"{url} did not answer in {timeout} s")

    def say(self, sender: str, text: str) -> list[dict]:
        """Send one client message through the REST channel; the bot's replies."""
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def tracker(self, sender: str) -> dict:
        url = (
            f"http://127.0.0.1:{self.rasa_port}/conversations/{sender}/tracker"
            f"?token={self.api_token}"
        )
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def text_of(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def buttons_of(replies: list[dict]) -> list[dict]:
    return [b for r in replies for b in r.get("buttons") or []]
