"""Where the local server listens, and its life: started from the CLI (in the foreground) or from
the window (on a thread of its own), stopped by Ctrl+C or the window's switch.

Loopback is the default and needs nothing. Any other address lets other computers reach the
user's models, so it takes an explicit `allow_network` and an API key, and the refusal says so in
words. The socket is bound here, before uvicorn starts, so a taken port is one sentence too."""

import errno
import ipaddress
import logging
import socket
import threading

import uvicorn

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _
from llamadesk.core.serving.host import ModelHost
from llamadesk.core.serving.openai_api import create_app

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class ServerError(LlamaDeskError):
    """The server cannot listen where it was asked to."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, allow_network: bool, api_key: str | None) -> None:
    if is_loopback(host):
        return
    if not allow_network:
        raise ServerError(
            _(
                "Listening on {host} would let other computers use your models; the server listens "
                "only on this computer (127.0.0.1) unless you also pass --allow-network and an API key."
            ).format(host=host)
        )
    if not api_key:
        raise ServerError(
            _(
                "Listening on {host} needs an API key (--api-key or LLAMADESK_API_KEY), so strangers "
                "on the network cannot use your models."
            ).format(host=host)
        )


def open_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServerError(
                _("Port {port} on {host} is taken by another program; choose another with --port.").format(
                    port=port, host=host
                )
            ) from exc
        raise ServerError(
            _("The server cannot listen on {host}:{port} ({reason}).").format(
                host=host, port=port, reason=exc.strerror or exc
            )
        ) from exc
    return sock


class LocalServer:
    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        api_key: str | None = None,
        allow_network: bool = False,
        model_host: ModelHost | None = None,
    ) -> None:
        check_binding(host, allow_network, api_key)
        self.model_host = model_host or ModelHost()
        self._socket = open_socket(host, port)
        self.host, self.port = host, self._socket.getsockname()[1]  # port 0: the one the OS chose
        config = uvicorn.Config(
            create_app(self.model_host, api_key), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def run(self) -> None:
        """Serve in the foreground until Ctrl+C (uvicorn's own signal handling) or `stop()`."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()
            self.model_host.close()

    def start(self) -> None:
        """Serve on a thread of its own (the window's switch; uvicorn leaves signals to the main
        thread there); `stop()` ends it."""
        self._thread = threading.Thread(target=self.run, name="llamadesk-server", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
