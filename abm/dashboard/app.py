"""The Solara app ``abm dashboard`` serves: four pages in one layout.

Solara serves this module by name (``SOLARA_APP=abm.dashboard.app``); :data:`routes` are
its pages, :func:`Layout` the frame around them (an app bar with one tab per page).
"""

from __future__ import annotations

import solara

from abm.dashboard import PAGES, dynamic, procurement, regimes, static
from abm.dashboard.widgets import APP_TITLE

__all__ = ["routes", "Layout"]

_COMPONENTS = {"dynamic": dynamic.Page, "regimes": regimes.Page, "static": static.Page,
               "procurement": procurement.Page}


@solara.component
def Layout(children=[]):  # noqa: B006 (Solara's signature)
    """Solara's app layout: the title, a tab per page (named in words), each page's sidebar on the left."""
    route, all_routes = solara.use_route()
    router = solara.use_router()
    index = all_routes.index(route) if route in all_routes else 0

    def go(i: int) -> None:
        router.push(solara.resolve_path(all_routes[i], level=0))

    tabs = solara.lab.Tabs(value=index, on_value=go, align="center",
                           children=[solara.lab.Tab(r.label) for r in all_routes])
    return solara.AppLayout(children=[solara.AppBar(children=[tabs]), *children], title=APP_TITLE, navigation=True,
                            sidebar_open=True)


#: One route per page of :data:`abm.dashboard.PAGES`.
#: The root route carries :func:`Layout`, which Solara applies around every page.
routes = [solara.Route(path=path or "/", component=_COMPONENTS[name], label=title, layout=Layout if not path else None)
          for name, (path, title) in PAGES.items()]
