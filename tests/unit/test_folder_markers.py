"""tests/conftest.py marks every test with its folder: ``pytest -m unit`` runs tests/unit/."""

from __future__ import annotations

import pytest


def test_a_test_in_tests_unit_is_marked_unit_and_nothing_else_of_the_folders(
    request: pytest.FixtureRequest,
) -> None:
    marks = {mark.name for mark in request.node.iter_markers()}
    assert "unit" in marks
    assert not marks & {"integration", "e2e", "llama"}
