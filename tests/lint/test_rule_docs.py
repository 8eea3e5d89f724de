"""Every registered rule is documented, and its examples do what the documentation says."""

from __future__ import annotations

import re

import pytest

from lint_rules import lint_source
from lint_rules.rules import FAMILIES, all_rules
from lint_rules.rules.base import Rule

RULES = all_rules()


def test_codes_are_unique_well_formed_and_sorted() -> None:
    declared = [r.code for f in FAMILIES for r in f.rules]
    assert len(declared) == len(set(declared)), "a code is declared by two rules"
    assert list(RULES) == sorted(RULES)
    for code, rule in RULES.items():
        assert re.fullmatch(r"TG\d{3}", code), code
        assert rule.code == code
    assert {"TG000", "TG001"} <= set(RULES)
    names = [r.name for r in RULES.values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_rule_is_documented(rule: type[Rule]) -> None:
    for attr in ("code", "name", "what", "why", "example", "instead"):
        value = getattr(rule, attr, None)
        assert isinstance(value, str) and value.strip(), f"{rule.__name__}.{attr} is missing"
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name), rule.name
    assert rule.valid and rule.invalid, "each rule needs valid and invalid examples"


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_examples_behave_as_documented(rule: type[Rule]) -> None:
    for source in rule.valid:
        found = [f for f in lint_source(source, rule.example_filename) if f.code == rule.code]
        assert not found, f"valid example of {rule.code} reported:\n{source}\n{found}"
    for source in rule.invalid:
        found = [f for f in lint_source(source, rule.example_filename) if f.code == rule.code]
        assert found, f"invalid example of {rule.code} not reported:\n{source}"
