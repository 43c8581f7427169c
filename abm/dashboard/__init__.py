"""An interactive dashboard in the browser: a Solara app (the Mesa ecosystem's web UI).

``abm dashboard`` serves it on a loopback address (:mod:`abm.dashboard.server`). Its pages,
one module each, are plain Solara components over the package's own functions:

- *Dynamic market* (:mod:`abm.dashboard.dynamic`): the Mesa model
  :class:`~abm.simulation.dynamic_market.model.DataMarketModel` stepped live beside its
  fluid limit;
- *Regimes side by side* (:mod:`abm.dashboard.regimes`):
  :func:`analysis.comparison.compare_dynamic`;
- *Static market* (:mod:`abm.dashboard.static`): :mod:`abm.theory.static`;
- *Procurement* (:mod:`abm.dashboard.procurement`): :mod:`abm.theory.procurement`.

:mod:`abm.dashboard.app` is the module Solara serves; :mod:`abm.dashboard.browser` drives the
served app in headless Chromium, which the test and :mod:`abm.dashboard.screenshots` (the
figures of ``docs/dashboard.md``) share. Importing this package does not import Solara:
``abm --help`` and the rest of the package work without the ``dashboard`` extra.
"""

#: The pages: URL path under the server's root, and title.
PAGES = {
    "dynamic": ("", "Dynamic market"),
    "regimes": ("regimes", "Regimes side by side"),
    "static": ("static", "Static market"),
    "procurement": ("procurement", "Procurement"),
}

__all__ = ["PAGES"]
