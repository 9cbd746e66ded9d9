"""Run the trainer and keep every event it sends (shared by the trainer tests)."""

from __future__ import annotations

from typing import Any

from ae_core.config import TrainConfig


def run(config: TrainConfig, **kwargs: Any) -> tuple[Any, list[dict]]:
    """Train ``config``; return the result and the list of events, in order."""
    from ae_core.training import train

    events: list[dict] = []
    result = train(config, on_event=events.append, **kwargs)
    return result, events
