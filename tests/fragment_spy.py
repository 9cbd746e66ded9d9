"""Which fragments a page declares, and how often each polls, for AppTests.

AppTest runs a page's fragments inline with the page and never on their timers, so a test
cannot wait for a fragment to poll. What it can check is the interval each fragment was
declared with by the last page run: that is what decides whether the browser polls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import streamlit as st


class FragmentSpy:
    """Records (function name, run_every) for every ``st.fragment`` a page declares, then declares it for real."""

    def __init__(self) -> None:
        self.declared: list[tuple[str, Any]] = []

    def clear(self) -> None:
        self.declared.clear()

    def intervals(self, name: str) -> list[Any]:
        """The ``run_every`` of each fragment named ``name`` declared since the last ``clear``."""
        return [every for declared, every in self.declared if declared == name]


@pytest.fixture
def fragments(monkeypatch: pytest.MonkeyPatch) -> FragmentSpy:
    """Patch ``st.fragment`` (the pages call it through the module) to record each declaration."""
    spy = FragmentSpy()
    real = st.fragment

    def fragment(func: Callable[..., Any] | None = None, *, run_every: Any = None, **options: Any) -> Any:
        def declare(function: Callable[..., Any]) -> Callable[..., Any]:
            spy.declared.append((function.__name__, run_every))
            return real(function, run_every=run_every, **options)

        return declare(func) if func is not None else declare

    monkeypatch.setattr(st, "fragment", fragment)
    return spy
