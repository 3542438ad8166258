"""The mass of the credible intervals the package reports, defined once for every layer.

:meth:`Fit.summary <grassroots.inference.fit_result.Fit.summary>` takes it as its default here;
:mod:`grassroots.estimands.settings` re-exports it as the default of every estimand, and the
tables and figures of :mod:`grassroots.reporting` take it from there. It lives in the lowest
layer that needs it, so that no layer has to import a higher one to agree on 95%.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PROB"]

#: Mass of the equal-tailed posterior intervals reported everywhere in the package.
DEFAULT_PROB = 0.95
