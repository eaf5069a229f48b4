"""The read side under test, each in its own process: citevault's HTTP app (uvicorn) and pywb
(`wayback`, from its own venv), plus a keep-alive client that times single requests."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["CitevaultServer", "Client", "PYWB_VENV", "PywbServer", "pywb_missing"]

ROOT = Path(__file__).resolve().parent.parent
PYWB_VENV = ROOT / ".venv-pywb"
_LAUNCH = (
    "import uvicorn\n"
    "from citevault.config import load_settings\n"
    "from citevault.web import create_app\n"
    "uvicorn.run(create_app(load_settings()), host='127.0.0.1', port={port}, log_level='warning',"
    " access_log=False)\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """Times single GETs, a fresh connection each: on a kept-alive connection a server that
    writes head and body separately meets Nagle plus delayed ACK (a 40 ms stall per response
    with gevent), which would measure TCP, not the server."""

    def __init__(self, port: int) -> None:
        self.port = port

    def get(self, path: str) -> tuple[int, bytes, float]:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        return resp.status, body, time.perf_counter() - start


class _Process:
    ready_path = "/"

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {self.proc.returncode} before serving")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                status, _, _ = Client(self.port).get(self.ready_path)
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{cmd[0]} did not answer on port {self.port} within 120 s")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (/proc/PID/stat): per request
        it is what a shared machine's load does not inflate, unlike wall time."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class CitevaultServer(_Process):
    """`create_app(load_settings())` under uvicorn, over CITEVAULT_HOME=home (and the index at
    `database_url` when one is given)."""

    ready_path = "/healthz"

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        super().__init__()
        self.home = home
        self.database_url = database_url

    def __enter__(self) -> CitevaultServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITEVAULT_")}
        env["CITEVAULT_HOME"] = str(self.home)
        if self.database_url:
            env["CITEVAULT_DATABASE_URL"] = self.database_url
        self._start([sys.executable, "-c", _LAUNCH.format(port=self.port)], env)
        return self


def pywb_missing() -> str | None:
    """Why pywb cannot run here, or None when it can."""
    if not (PYWB_VENV / "bin" / "wayback").exists():
        return f"pywb's venv is missing: run `make pywb-venv` (creates {PYWB_VENV.name})"
    return None


class PywbServer(_Process):
    """pywb's `wayback` over a directory holding collections/bench/{indexes,archive}."""

    ready_path = "/bench/cdx?url=http://example.invalid/"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def __enter__(self) -> PywbServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEVAULT_", "VIRTUAL_ENV"))}
        self._start(
            [str(PYWB_VENV / "bin" / "wayback"), "-p", str(self.port), "-b", "127.0.0.1",
             "-d", str(self.directory)],
            env, cwd=self.directory,
        )
        return self
