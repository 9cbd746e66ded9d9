"""Benchmark: how long does each Explore action take on a 2,000-point map? Target: < 1 s each.

Trains two small models on real MNIST through ``ae_core.training.train`` (a VAE with a
2-D code, and a dense autoencoder with a 32-d code, which the map shows on its PCA
plane), saves and reloads them as the page does, then times each action the way the
page runs it, including building the Plotly figure and serialising it to JSON (what
Streamlit sends to the browser). Each action is repeated; the median and the worst are
printed. Loading the model and encoding the map happen once per model file (cached in
the page); they are timed too, as the cost of opening a run.

    AE_LAB_DATA_DIR=DIR python bench/bench_explore.py [--dataset mnist] [--repeats 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from PIL import Image  # noqa: E402

from ae_core import analysis  # noqa: E402
from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.data import DATASETS, load_dataset  # noqa: E402
from ae_core.models import load_autoencoder, save_autoencoder  # noqa: E402
from ae_core.data import fixed_sample, tile  # noqa: E402
from ae_core.training import train  # noqa: E402
from ae_core.data import load_upload  # noqa: E402
from ae_lab_ui import explore_figures  # noqa: E402

MAP_POINTS = 2000


def to_json(spec: dict) -> str:
    """Serialise a figure spec as ``ae_lab_ui.views.plot`` has Streamlit do it (no validation)."""
    return go.Figure(spec, _validate=False).to_json()


def timed(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), max(seconds)


def drawing_png() -> bytes:
    page = np.full((200, 200), 255, np.uint8)
    page[40:160, 90:110] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def bench_model(name: str, config: TrainConfig, repeats: int) -> list[tuple[str, float, float]]:
    result = train(config)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        save_autoencoder(result.model, path)
        start = time.perf_counter()
        bundle = load_autoencoder(path)
        load_seconds = time.perf_counter() - start
    splits = load_dataset(config.dataset, validation_fraction=config.validation_fraction)
    spec = DATASETS[config.dataset]
    indices = fixed_sample(len(splits.x_test), MAP_POINTS, seed=0)
    images, labels = splits.x_test[indices], splits.y_test[indices]
    state: dict[str, object] = {}

    def open_map() -> None:
        codes = analysis.encode(bundle, images)
        state["codes"], state["plane"] = codes, analysis.fit_plane(codes)
        state["points"] = state["plane"].to_plane(codes)

    open_seconds = timed(open_map, 1)[0]
    plane, points, codes = state["plane"], state["points"], state["codes"]
    bounds = analysis.plane_bounds(points)

    def draw_map(marker: tuple[float, float] | None = None, background: bool = True) -> None:
        grid = analysis.decode_plane(bundle, plane, bounds, 12)[2] if background else None
        figure = explore_figures.plane_figure(points, labels, indices, spec.class_names, run_id="bench",
                                              method_title="bench", bounds=bounds, marker=marker,
                                              background=tile(grid, gap=0) if background else None)
        to_json(figure)

    def click() -> None:
        analysis.decode(bundle, plane.to_codes(np.array([[0.3, -0.2]], np.float32)))

    upload = drawing_png()

    def your_image() -> None:
        image = load_upload(upload, config.image_shape, mnist_style=True)
        code = analysis.encode(bundle, image[None])
        analysis.decode(bundle, code)
        spot = plane.to_plane(code)[0]
        draw_map(marker=(float(spot[0]), float(spot[1])), background=False)

    def errors() -> None:
        ranking = analysis.rank_errors(bundle, splits.x_test, count=12)
        by_class = analysis.errors_by_class(ranking.errors, splits.y_test, spec.num_classes)
        to_json(explore_figures.error_maps_figure(ranking.error_maps, ranking.errors[ranking.worst]))
        to_json(explore_figures.error_histogram(by_class, spec.class_names))

    ranges = analysis.code_ranges(codes)
    actions: list[tuple[str, Callable[[], object]]] = [
        ("decoded plane (12x12) + map figure", draw_map),
        ("click to decode", click),
        ("interpolation (10 steps)", lambda: analysis.interpolate(bundle, images[0], images[1], 10)),
        ("slider move (decode one code)", lambda: analysis.decode(bundle, ranges.mean(axis=1)[None])),
        ("upload: validate + encode + map", your_image),
        (f"error ranking of all {len(splits.x_test):,} test images + figures", errors),
    ]
    if config.model.is_variational:
        actions.append(("12 prior samples", lambda: analysis.sample_prior(bundle, 12, seed=1)))
    rows = [(f"{name}: load model (once per run)", load_seconds, load_seconds),
            (f"{name}: encode {MAP_POINTS:,}-point map + fit plane (once)", open_seconds, open_seconds)]
    for title, action in actions:
        action()  # The first call traces the model's graph once; the page pays it once per model.
        median, worst = timed(action, repeats)
        rows.append((f"{name}: {title}", median, worst))
    return rows


def bench_page(config: TrainConfig, repeats: int) -> tuple[float, float]:
    """Whole Explore page reruns (every tab's script, server side) after a widget change, via AppTest."""
    from streamlit.testing.v1 import AppTest

    from ae_core.store import RunStatus
    from ae_lab_ui import services
    from tests.fake_jobs import FakeJobManager

    result = train(config)
    with tempfile.TemporaryDirectory() as folder:
        manager = FakeJobManager(home=Path(folder))
        run_id = manager.add_run(config, status=RunStatus.FINISHED)
        manager.model_files[run_id] = Path(folder) / "model.keras"
        save_autoencoder(result.model, manager.model_files[run_id])
        services.inject_manager(manager)
        app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages" / "explore.py"), default_timeout=120)
        app.query_params["run_id"] = run_id
        app.run()
        sizes = iter([8, 16] * repeats)
        median, worst = timed(lambda: app.slider(key="explore_grid_size").set_value(next(sizes)).run(), repeats)
        services.inject_manager(None)
        if app.exception:
            raise RuntimeError(app.exception[0].value)
    return median, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    base = TrainConfig(dataset=args.dataset, num_epochs=args.epochs, batch_size=128)
    models = {
        "VAE, 2-d": base.replace(model=ModelConfig(arch="vae", latent_dim=2, hidden_sizes=(256,))),
        "dense, 32-d (PCA plane)": base.replace(model=ModelConfig(arch="dense", latent_dim=32)),
    }
    rows = [row for name, config in models.items() for row in bench_model(name, config, args.repeats)]
    median, worst = bench_page(models["dense, 32-d (PCA plane)"], args.repeats)
    rows.append(("whole page rerun after moving a slider (all five tabs, dense 32-d)", median, worst))
    print(f"\n| action ({args.dataset}, {MAP_POINTS:,}-point map) | median | worst |\n| --- | --- | --- |")
    for title, median, worst in rows:
        print(f"| {title} | {median * 1000:.0f} ms | {worst * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
