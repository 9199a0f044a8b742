"""What `memorag serve` is started with, and the checks made before anything listens (no FastAPI here).

The server owns one folder under the stores directory, `.memorag-server/` (jobs, uploads in flight, the list of
empty stores); store names cannot start with a dot, so no store can be called that.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from memorag.errors import ExposedServerError, InvalidStoreNameError

SERVER_FOLDER = ".memorag-server"
STORE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
LOOPBACK_NAMES = ("localhost",)
MAX_REQUEST_BYTES = 1 << 20  # every body but a document upload: questions, chat histories, store names


@dataclass(frozen=True)
class ServerSettings:
    """`stores` holds one memorag store per folder; `api_key` None leaves /v1 open (loopback only)."""

    stores: Path
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_upload_mb: float = 50.0
    max_jobs: int = 16
    ask_timeout: float = 120.0
    device: str = "cpu"
    lock_timeout: float = 600.0  # seconds a job waits for another writer of its store (a CLI --append)

    @property
    def server_dir(self) -> Path:
        return Path(self.stores) / SERVER_FOLDER

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * (1 << 20))

    def store_path(self, name: str) -> Path:
        """The folder of store `name`, or InvalidStoreNameError: nothing outside `stores` can be named."""
        return Path(self.stores) / check_store_name(name)


def check_store_name(name: str) -> str:
    if not isinstance(name, str) or not STORE_NAME.fullmatch(name):
        raise InvalidStoreNameError(
            f"store name {str(name)[:80]!r} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-', not "
            "starting with '.' (e.g. 'papers' or 'book-2024')")
    return name


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; False for 0.0.0.0, :: and every other address or name."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> None:
    """Refuse to listen beyond this machine without an API key: anyone who reaches the port could read every
    store and write to it."""
    if not is_loopback(settings.host) and not settings.api_key:
        raise ExposedServerError(
            f"refusing to listen on {settings.host} without an API key: every store would be open to anyone who "
            "reaches that address; give --api-key KEY (or set MEMORAG_API_KEY) and send `Authorization: Bearer "
            "KEY`, or listen on 127.0.0.1 (the default)")
    if settings.max_upload_mb <= 0 or settings.max_jobs < 1 or settings.ask_timeout <= 0:
        raise ValueError("--max-upload-mb, --max-jobs and --ask-timeout must be positive")
