"""The ``abm dashboard`` job: serve the interactive dashboard on a loopback address.

The app is :mod:`abm.dashboard.app` (Solara); it needs the ``dashboard`` extra
(``pip install -e '.[dashboard]'``). See ``docs/dashboard.md``.
"""

from __future__ import annotations

from abm.dashboard.server import DEFAULT_HOST, DEFAULT_PORT, check_host, check_port, configure_solara

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "dashboard"
HELP = "serve the interactive dashboard (dynamic market, regimes, static market, procurement) in the browser"


def add_arguments(parser) -> None:
    """Arguments of ``abm dashboard``."""
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on; loopback only (127.0.0.0/8, ::1 or localhost)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port to listen on (0 picks a free one)")


def run(args) -> int:
    """Check the address, then serve until interrupted."""
    host, port = check_host(args.host), check_port(args.port)
    configure_solara()
    try:
        import solara  # noqa: F401
    except ImportError:
        raise ValueError("the dashboard needs the 'dashboard' extra: python3 -m pip install -e '.[dashboard]'") from None
    from abm.dashboard.server import serve

    serve(host, port)
    return 0
