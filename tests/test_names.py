"""The one rule for names, and how names are echoed in messages."""

import pytest

from llamadesk.core.names import is_valid_name, shown


@pytest.mark.parametrize("name", ["tiny", "Llama-2-7b.Q4_0", "中文-lora", "a" * 100])
def test_valid_names(name):
    assert is_valid_name(name)


@pytest.mark.parametrize("name", ["", "nl\n", "-lead", ".hidden", "a b", "a/b", "a" * 101, "nul\0"])
def test_invalid_names(name):
    assert not is_valid_name(name)


def test_control_characters_are_escaped_when_echoed():
    assert shown("nul\0byte\n") == "nul\\x00byte\\n"
    assert shown("中文") == "中文"
    assert len(shown("x" * 500)) == 120
