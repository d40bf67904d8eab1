"""What users steer a run with: --alias, --skip-op and --xfail entries parse, or say why not."""

from __future__ import annotations

import pytest

from conformance.config import ConfigError, parse_aliases, parse_skip, parse_xfail, spelling


def test_an_alias_maps_a_method_of_the_op_table_or_micrograds_backward_data_and_grad() -> None:
    aliases = parse_aliases(["log=ln", "backward=backprop", "data=value", "grad=gradient()"])
    assert aliases == {"log": "ln", "backward": "backprop", "data": "value", "grad": "gradient()"}


def test_parentheses_matter_only_where_a_name_is_read_rather_than_called() -> None:
    assert parse_aliases(["log=ln()", "backward=backprop()"]) == {
        "log": "ln",
        "backward": "backprop",
    }
    assert parse_aliases(["data=item()"]) == {"data": "item()"}


def test_code_spells_backward_data_and_grad_in_the_engines_own_words() -> None:
    aliases = {"backward": "backprop", "grad": "gradient()"}
    assert [spelling(n, aliases) for n in ("backward", "data", "grad")] == [
        ".backprop()",
        ".data",
        ".gradient()",
    ]
    assert spelling("backward") == ".backward()"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("log", "expected METHOD=NAME"),
        ("log=l n", "expected METHOD=NAME"),
        ("grad=()", "expected METHOD=NAME"),
        ("zero_grad=zero", "'zero_grad' is neither a method of the op table nor one of backward"),
    ],
)
def test_a_bad_alias_is_an_error_naming_the_entry(entry: str, says: str) -> None:
    with pytest.raises(ConfigError, match="--alias") as error:
        parse_aliases([entry])
    assert repr(entry) in str(error.value) and says in str(error.value)


def test_a_skipped_op_and_an_xfail_entry_are_checked_against_the_op_table() -> None:
    assert parse_skip(["pow:vv"]) == [("pow", "vv")]
    with pytest.raises(ConfigError, match="no op 'power'"):
        parse_skip(["power"])
    assert parse_xfail(["op:tanh:value  # on purpose", "", "sub:cv"]) == ["op:tanh:value", "sub:cv"]
    with pytest.raises(ConfigError, match="expected a problem signature"):
        parse_xfail(["nonsense:entry"])
