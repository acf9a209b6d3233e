"""`llamadesk serve`: the local OpenAI-compatible server, for the user's other tools on this computer.

Clients use `http://127.0.0.1:8765/v1` as their base URL and a library model's id (or
`MODEL@ADAPTER`) as the model name; `GET /v1/models` lists them."""

import argparse
import contextlib
import os

from llamadesk.core.i18n import _
from llamadesk.core.serving.host import resolve
from llamadesk.core.serving.server import DEFAULT_HOST, DEFAULT_PORT, LocalServer

API_KEY_VARIABLE = "LLAMADESK_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the library's models to other programs through an OpenAI-compatible API",
        description="Serve the library's models at http://HOST:PORT/v1 with OpenAI's API (chat "
        "completions, streaming included). Only this computer can connect unless --allow-network is "
        "given with an API key.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_VARIABLE) or None,
        help=f"require this key as a bearer token (default: ${API_KEY_VARIABLE}; none on loopback)",
    )
    parser.add_argument(
        "--model",
        help="load this model (MODEL or MODEL@ADAPTER) before serving, so the first request does not wait "
        "for it; any library model can still be asked for",
    )
    parser.add_argument(
        "--allow-network",
        action="store_true",
        help="allow a non-loopback --host, so other computers can connect (needs an API key)",
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    served = resolve(args.model) if args.model else None  # a wrong name is said before anything opens
    server = LocalServer(args.host, args.port, api_key=args.api_key, allow_network=args.allow_network)
    if served is not None:
        print(_("Loading {model_id}").format(model_id=served.name) + "…", flush=True)
        server.model_host.preload(served)
    print(f"Serving the library's models at {server.address} (Ctrl+C to stop).", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn finishes its requests, then passes Ctrl+C on
        server.run()
    print("Server stopped.")
    return 0
