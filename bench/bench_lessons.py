"""How long each built-in lesson's step takes, from Train to the reveal, and what the reveal measures.

Each step's prepared runs are submitted to a real job service (its default workers, as the
server starts them), as one student pressing Train does; the clock stops when the step's
rule says the runs have enough to show. The reveal is then computed by the Lessons page's
own functions (Streamlit's calls draw nothing outside a server), with its measured answer.

Usage: python bench/bench_lessons.py [LESSON_ID ...]   (no id: every built-in lesson)
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.getLogger("streamlit").setLevel(logging.ERROR)

from ae_core.service import JobManager  # noqa: E402
from ae_core.store import RunStatus  # noqa: E402
from ae_lab_ui import lesson_files, lesson_views  # noqa: E402


def main(names: list[str]) -> None:
    lessons, problems = lesson_files.load_lessons(lesson_files.lesson_paths([lesson_files.BUILT_IN_DIR]))
    assert not problems, problems
    with tempfile.TemporaryDirectory() as home:
        manager = JobManager(home)
        time.sleep(20)  # the warm workers import TensorFlow first, as a server does at start
        print("| lesson | step | runs | Train → reveal (s) | measured | sentence |")
        print("| --- | --- | --- | --- | --- | --- |")
        for lesson in lessons.values():
            if names and lesson.lesson_id not in names:
                continue
            for number, step in enumerate(lesson.steps, start=1):
                start = time.perf_counter()
                run_ids = [manager.submit(config) for config in step.configs]
                while True:
                    records = [manager.get_run(run_id) for run_id in run_ids]
                    if all(step.is_ready(r.status is RunStatus.FINISHED, int(r.progress.get("epoch", 0)))
                           for r in records) or any(r.status is RunStatus.FAILED for r in records):
                        break
                    time.sleep(0.2)
                trained = time.perf_counter() - start
                outcome = lesson_views.REVEALS[step.reveal](manager, records, "bench")
                total = time.perf_counter() - start
                print(f"| {lesson.lesson_id} | {number} | {len(run_ids)} | {trained:.0f} (+{total - trained:.1f} "
                      f"reveal) | {outcome.measured} | {outcome.sentence} |", flush=True)
        manager.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
