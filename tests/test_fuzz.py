"""Typed input, fuzzed: whatever a visitor types, the source parser returns a valid source or raises its one
documented error (ValueError with a message for the page), never anything else."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s.config import ProblemConfig
from s2s.data import parse_sequence

PROBLEM = ProblemConfig(cardinality=50, n_in=6, n_out=3)

TYPED = st.one_of(
    st.text(),                                                               # any unicode at all
    st.text(alphabet=st.sampled_from("0123456789 ,[]-+._eE\t\n"), max_size=60),  # near misses
    st.lists(st.integers(-10**40, 10**40), max_size=9).map(lambda v: " ".join(map(str, v))),  # huge numbers
    st.lists(st.integers(1, 50), min_size=6, max_size=6).map(lambda v: ", ".join(map(str, v))),  # valid ones
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=8).map(lambda v: ",".join(map(str, v))),
    st.text(alphabet=st.characters(categories=["Nd"]), max_size=14),         # digits of every script
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs"]), max_size=20),  # control and space characters
)


@given(TYPED)
@settings(max_examples=600, deadline=None)
def test_the_parser_returns_a_valid_source_or_its_value_error(text):
    try:
        source = parse_sequence(text, PROBLEM)
    except ValueError as error:
        assert str(error)  # a message to show, not an empty box
        return
    assert source.dtype == np.int32 and source.shape == (6,)
    assert ((1 <= source) & (source <= 50)).all()


@pytest.mark.parametrize("text", ["1 " * 500_000, "9" * 1_000_000, "\x00" * 1_000_000])
def test_a_million_characters_are_refused_at_once(text):
    with pytest.raises(ValueError, match="far too long"):
        parse_sequence(text, PROBLEM)
