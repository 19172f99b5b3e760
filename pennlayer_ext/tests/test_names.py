import pytest

from pennlayer_ext.core import InvalidName, validate_name
from pennlayer_ext.core.names import NAME_RULE, name_problem

GOOD = ["a", "0", "hg38", "scientific-stack", "hg38-reference", "a-b-c-1", "x" * 63]

BAD = {
    "": "empty",
    "Hg38": "uppercase",
    "HG": "uppercase",
    "a/b": "path separator",
    "a\\b": "path separator",
    "../etc": "path separator",
    "..": "path separator",
    ".": "characters other than",
    "a..b": "path separator",
    "-lead": "starts or ends with a dash",
    "trail-": "starts or ends with a dash",
    "a--b": "two dashes",
    "x" * 64: "64 characters long",
    "café": "non-ASCII",
    "\uff46\uff55\uff4c\uff4c": "non-ASCII",  # fullwidth letters
    "a b": "characters other than",
    "a_b": "characters other than",
    "a.b": "characters other than",
    "name\n": "characters other than",
    "\x00": "characters other than",
}


@pytest.mark.parametrize("name", GOOD)
def test_valid_names_pass(name):
    assert validate_name(name) == name
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "problem"), BAD.items())
def test_invalid_names_are_refused_with_reason_and_rule(name, problem):
    with pytest.raises(InvalidName) as caught:
        validate_name(name)
    assert problem in caught.value.message
    assert NAME_RULE in caught.value.message
    assert caught.value.status == 400


@pytest.mark.parametrize("value", [None, 3, ["a"], {"a": 1}])
def test_non_strings_are_refused(value):
    with pytest.raises(InvalidName, match="must be a string"):
        validate_name(value)


def test_very_long_names_are_shortened_in_the_message():
    with pytest.raises(InvalidName) as caught:
        validate_name("a" * 5000)
    assert len(caught.value.message) < 400
