"""utils/registry.py: duplicate names refused, unknown names answered with the valid ones and the closest."""
import pytest

from utils.errors import ConfigError
from utils.registry import Registry


def make():
    r = Registry("colour")
    r.add("red", 1)

    @r.register("green")
    def green():
        return 2
    return r, green


def test_register_get_and_order():
    r, green = make()
    assert r.get("red") == 1 and r["green"] is green and green() == 2
    r.add("blue", 3)
    assert r.names() == ["blue", "green", "red"] and r.names(sort=False) == ["red", "green", "blue"]
    assert "red" in r and "pink" not in r and len(r) == 3 and list(r) == ["blue", "green", "red"]
    assert r.items() == [("red", 1), ("green", green), ("blue", 3)]


def test_duplicates_and_bad_names_are_refused():
    r, _ = make()
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        r.add("red", 5)
    with pytest.raises(ValueError, match="non-empty string"):
        r.add("", 5)


def test_unknown_names_list_the_valid_ones_and_suggest_the_closest():
    r, _ = make()
    with pytest.raises(ConfigError, match=r"unknown colour 'gren' \(--paint\) \(did you mean 'green'\?\); "
                                          r"valid names: green, red"):
        r.get("gren", "--paint")
    with pytest.raises(ConfigError) as e:
        r.get("violet")
    assert "did you mean" not in str(e.value)


def test_parse_list():
    r, _ = make()
    r.add("blue", 3)
    assert r.parse_list("") == [] and r.parse_list(None) == []
    assert r.parse_list("blue, red,blue") == ["blue", "red"]
    assert r.parse_list("red,all") == ["red", "green", "blue"]
    with pytest.raises(ConfigError, match="'pink'"):
        r.parse_list("red,pink", "--colours")
