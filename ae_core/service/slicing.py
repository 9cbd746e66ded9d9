"""Time-slicing: while runs wait that have not started, running ones pause at their next epoch end.

A class presses Train at once, and with two workers the thirtieth run would wait for
twenty-eight others to finish: minutes before a student sees a first point. Paused at an
epoch end (just checkpointed, so nothing is lost), a run goes back to the queue, behind the
runs that have not started (``ae_core.store.lifecycle.fair_order``), and goes on from there
later, on the worker that paused it if that one is free (it keeps the model and its state in
memory, traced: ``ae_core.training.warm``). So every run's first epoch comes before anyone's
second. A paused run that waits pauses no one, so runs never take turns for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ae_core.service.pool import WorkerHandle


def workers_to_pause(workers: Sequence[WorkerHandle], *, max_workers: int, waiting_new: int) -> list[WorkerHandle]:
    """The workers to ask for a pause now.

    Args:
        workers: the pool's workers.
        max_workers: the most workers the pool may have (``max_concurrent``).
        waiting_new: queued runs that have never trained (new or resumed by a person).

    Returns:
        Busy workers not already stopping, one for each waiting run that no idle, starting
        or yet-to-be-started worker will take (a worker starting takes the next run within
        seconds; a class's thirty runs need more than that).
    """
    coming = sum(not w.busy for w in workers) + max(0, max_workers - len(workers))
    wanted = waiting_new - coming
    if wanted <= 0:
        return []
    return [w for w in workers if w.busy and w.stop_requested_at is None][:wanted]
