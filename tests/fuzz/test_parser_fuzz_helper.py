"""The fuzz helper itself catches what it is for: a hang, a superlinear parser, a foreign exception, a leak."""

import re

import pytest

from parser_fuzz import check_parser


class OurError(Exception):
    pass


def test_a_catastrophic_backtracking_parser_is_stopped():
    with pytest.raises(AssertionError, match="did not finish"):
        check_parser(lambda text: re.match(r"(a*)*b", text), "a" * 60, (OurError,))


def test_a_quadratic_parser_is_over_budget_on_a_long_line():
    def quadratic(text):
        return sum(1 for i in range(len(text)) for _j in range(i))

    with pytest.raises(AssertionError, match="did not finish|took"):
        check_parser(quadratic, "x" * 20000, (OurError,), memory=False)


def test_only_the_allowed_exceptions_pass():
    def broken(_text):
        raise KeyError("x")

    def refusing(_text):
        raise OurError("line 1: bad")

    with pytest.raises(AssertionError, match="raised KeyError"):
        check_parser(broken, "text", (OurError,))
    result, error = check_parser(refusing, "text", (OurError,))
    assert result is None and str(error) == "line 1: bad"


def test_memory_out_of_proportion_to_the_input_is_caught():
    with pytest.raises(AssertionError, match="allocated"):
        check_parser(lambda text: [text * 1000 for _i in range(50)], "x" * 1000, (OurError,))
