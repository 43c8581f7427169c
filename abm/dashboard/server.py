"""Serve the dashboard with Solara's own server, on a loopback address only.

The dashboard runs simulations for whoever can reach it, so it listens on loopback
addresses only (``127.0.0.0/8``, ``::1`` or ``localhost``); :func:`check_host` refuses any
other. Solara's telemetry and its check for a newer release (both network calls) are
switched off, and its browser assets come from the ``solara-assets`` package, so the page
renders with no network at all.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import warnings

__all__ = ["APP", "DEFAULT_HOST", "DEFAULT_PORT", "check_host", "check_port", "free_port", "url_of",
           "configure_solara", "serve"]

#: The module Solara serves.
APP = "abm.dashboard.app"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def check_host(host: str) -> str:
    """``host`` if it is a loopback address or ``localhost``; ``ValueError`` otherwise."""
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"--host must be a loopback address (127.0.0.0/8, ::1 or localhost), got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"--host must be a loopback address (127.0.0.0/8, ::1 or localhost), got {host!r}: "
                         "the dashboard is not meant to be served to other machines")
    return str(address)


def check_port(port: int) -> int:
    """``port`` if it is a TCP port number (0 picks a free one); ``ValueError`` otherwise."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must lie in 0..65535, got {port}")
    return port


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def url_of(host: str, port: int) -> str:
    """The dashboard's address, with an IPv6 host in brackets."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def configure_solara() -> None:
    """Settings Solara reads from the environment when it is first imported: no telemetry,
    no banner. Call before anything imports ``solara``."""
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    os.environ["SOLARA_THEME_SHOW_BANNER"] = "False"
    os.environ.setdefault("SOLARA_THEME_TITLE", "AI training-data market")


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard until interrupted (Ctrl-C or SIGTERM). Blocks."""
    host, port = check_host(host), check_port(port)
    if port == 0:
        port = free_port(host)
    configure_solara()
    # Solara warns, on every page load over plain http from 127.0.0.1, that its session cookie
    # cannot be SameSite=None (needed only when embedded in another site's iframe).
    warnings.filterwarnings("ignore", message="Cookies with samesite=none", category=UserWarning)
    from solara.__main__ import run as solara_run

    print(f"abm dashboard: serving on {url_of(host, port)} (Ctrl-C stops it)", flush=True)
    from click.exceptions import Abort

    try:
        solara_run.main([APP, "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version"],
                        standalone_mode=False)
    except Abort:  # click's word for Ctrl-C or SIGTERM: the CLI reports an interruption
        raise KeyboardInterrupt from None
