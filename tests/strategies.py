"""Hypothesis strategies for random markets, shared by the property tests."""

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np

from abm.theory.static import InformationMarket

positive = st.floats(min_value=0.2, max_value=5.0, allow_nan=False)
loadings = hnp.arrays(
    np.float64,
    st.integers(min_value=1, max_value=30),
    elements=st.floats(min_value=0.0, max_value=2.0, allow_nan=False),
)


@st.composite
def markets(draw, beta=loadings):
    """A random static market with moderate parameters."""
    return InformationMarket(draw(beta), cost=draw(positive), sigma2=draw(positive), value=draw(positive))
