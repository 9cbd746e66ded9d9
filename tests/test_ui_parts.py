"""Unit tests of the UI's plain parts: the form, the run memory and the figures (no Streamlit run)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.data.datasets import DATASETS
from ae_core.analysis.projection import project
from ae_core.store.records import MetricRow, RunRecord, RunStatus
from ae_lab_ui import figures, form
from ae_lab_ui.history import (
    FAST_POLL_SECONDS,
    LIVE_SECONDS,
    NEXT_IN_QUEUE,
    SLOW_REFRESH_SECONDS,
    WAITING_SECONDS,
    YOUNG_LIVE_SECONDS,
    MetricHistory,
    ProjectionCache,
    format_seconds,
    poll_seconds,
    progress_bar_state,
)

# --- form -------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("preset", list(form.PRESETS))
def test_every_preset_is_a_valid_config_on_every_dataset(preset: str, dataset: str) -> None:
    config = form.build_config(dataset, form.preset_values(preset))
    assert config.dataset == dataset
    assert config.model.arch == form.PRESETS[preset]["arch"]


def test_presets_build_what_their_names_say() -> None:
    vae = form.build_config("mnist_sample", form.preset_values("VAE with a 2-D latent")).model
    assert (vae.arch, vae.latent_dim, vae.hidden_sizes) == ("vae", 2, (256,))
    denoising = form.build_config("mnist_sample", form.preset_values("Denoising")).model
    assert (denoising.noise, denoising.noise_level) == ("gaussian", 0.4)
    classic = form.build_config("mnist_sample", form.preset_values("Classic 784-64-784 (reference D)"))
    assert (classic.model.arch, classic.model.latent_dim, classic.model.hidden_sizes) == ("dense", 64, ())
    # System D as the reference material trains it: batches of 256, 50 epochs, validated on the test split.
    assert (classic.batch_size, classic.num_epochs, classic.validation_fraction) == (256, 50, 0.0)
    conv = form.build_config("cifar10", form.preset_values("Convolutional")).model
    assert conv.conv_filters == (32, 64)


def test_settings_that_do_not_apply_are_left_neutral() -> None:
    values = {**form.DEFAULTS, "arch": "dense", "hidden_layers": 3, "conv_blocks": 1, "beta": 4.0,
              "noise": "none", "noise_level": 0.7, "loss": "bce", "output_activation": "linear"}
    model = form.build_config("mnist_sample", values).model
    assert model.hidden_sizes == () and model.conv_filters == ModelConfig.conv_filters
    assert (model.beta, model.noise_level, model.output_activation) == (1.0, 0.0, "sigmoid")


def test_hidden_layers_and_a_decoder_without_hidden_layers() -> None:
    # System E of the reference material: 784 -> 64 -> 64 -> 784.
    values = {**form.DEFAULTS, "arch": "deep", "latent_dim": 64, "hidden_layers": 1, "hidden_width_0": 64,
              "mirror_decoder": False, "loss": "mse", "output_activation": "sigmoid", "batch_size": 128}
    model = form.build_config("mnist", values).model
    assert (model.hidden_sizes, model.decoder_hidden_sizes) == ((64,), ())
    lstm = form.build_config("mnist", {**values, "arch": "lstm"}).model
    assert lstm.decoder_hidden_sizes is None  # an LSTM decoder always mirrors


def test_example_limit_and_grayscale() -> None:
    config = form.build_config("cifar10", {**form.DEFAULTS, "example_limit": 2000, "grayscale": True})
    assert (config.train_limit, config.grayscale, config.image_shape) == (2000, True, (32, 32, 1))
    assert form.build_config("mnist", {**form.DEFAULTS, "grayscale": True}).grayscale is False
    assert form.build_config("mnist", form.DEFAULTS).train_limit is None


def test_build_config_names_the_field_of_a_bad_value() -> None:
    with pytest.raises(ValueError, match="arch must be one of"):
        form.build_config("mnist", {"arch": "transformer"})
    with pytest.raises(ValueError, match="dataset must be one of"):
        form.build_config("imagenet", {})
    with pytest.raises(ValueError, match="preset must be one of"):
        form.preset_values("Huge")


def test_conv_blocks_follow_the_image_size() -> None:
    assert form.max_conv_blocks("mnist") == 2
    assert form.max_conv_blocks("cifar10") == 5


def test_choices_are_valid_config_values() -> None:
    for latent_dim in form.LATENT_CHOICES:
        ModelConfig(latent_dim=latent_dim)
    for rate in form.LEARNING_RATE_CHOICES:
        TrainConfig(learning_rate=rate)
    for penalty in form.PENALTY_CHOICES:
        ModelConfig(l1_weight=penalty, l2_weight=penalty, l1_activity=penalty)


# --- history: the run memory -------------------------------------------------------

def rows(*items: tuple[str, str, float, int, int, float], start: int = 1) -> list[MetricRow]:
    return [MetricRow(start + i, kind, key, value, epoch, step, time)
            for i, (kind, key, value, epoch, step, time) in enumerate(items)]


def test_history_keeps_new_rows_once() -> None:
    history = MetricHistory("a" * 32)
    first = rows(("batch", "loss", 0.5, 0, 1, 0.1), ("batch", "loss", 0.4, 0, 5, 0.5),
                 ("epoch", "loss", 0.3, 1, 10, 1.0), ("epoch", "val_loss", 0.35, 1, 10, 1.0))
    assert history.add(first) == 4
    assert history.add(first) == 0  # the same rows again change nothing
    assert history.last_seq == 4
    assert history.batch_steps == [1, 5] and history.latest("val_loss") == 0.35
    assert history.latest("kl_loss") is None and history.num_points == 4
    assert history.steps_per_second() == pytest.approx(10.0)


def test_history_refresh_asks_for_rows_after_the_last_seen() -> None:
    history = MetricHistory("b" * 32)
    asked = []

    def read(run_id: str, after_seq: int) -> list[MetricRow]:
        asked.append((run_id, after_seq))
        return rows(("batch", "loss", 0.5, 0, after_seq + 1, 0.1), start=after_seq + 1)

    history.refresh(read)
    history.refresh(read)
    assert asked == [("b" * 32, 0), ("b" * 32, 1)]


def record(status: RunStatus, **progress: int) -> RunRecord:
    return RunRecord("c" * 32, status, TrainConfig(num_epochs=4), created_at=0.0, started_at=0.0, progress=progress)


def test_a_live_view_polls_fast_while_the_run_is_young_and_never_once_it_ended() -> None:
    queued = RunRecord("c" * 32, RunStatus.QUEUED, TrainConfig(), created_at=0.0, queue_position=NEXT_IN_QUEUE)
    assert poll_seconds(queued, now=lambda: 1e9) == YOUNG_LIVE_SECONDS
    # Further back, it polls slowly: a class's waiting runs were most of the server's load.
    assert poll_seconds(replace(queued, queue_position=NEXT_IN_QUEUE + 1)) == WAITING_SECONDS
    running = record(RunStatus.RUNNING)  # started at 0.0
    assert poll_seconds(running, now=lambda: FAST_POLL_SECONDS - 0.1) == YOUNG_LIVE_SECONDS
    assert poll_seconds(running, now=lambda: FAST_POLL_SECONDS) == LIVE_SECONDS
    assert poll_seconds(record(RunStatus.FINISHED), now=lambda: 1.0) is None


def test_progress_and_time_left() -> None:
    history = MetricHistory("c" * 32)
    history.add(rows(("batch", "loss", 0.5, 0, 10, 1.0), ("batch", "loss", 0.4, 1, 30, 3.0)))
    progress = progress_bar_state(record(RunStatus.RUNNING, epoch=1, step=30, num_epochs=4, steps_per_epoch=20),
                                  history)
    assert (progress.step, progress.total_steps, progress.fraction) == (30, 80, pytest.approx(30 / 80))
    assert progress.seconds_left == pytest.approx(5.0)  # 50 steps at 10 steps per second
    # The position is the record's alone (the store writes it with each batch row); the history gives the speed.
    behind = progress_bar_state(record(RunStatus.RUNNING, epoch=1, step=25, num_epochs=4, steps_per_epoch=20),
                                history)
    assert (behind.step, behind.seconds_left) == (25, pytest.approx(5.5))
    finished = progress_bar_state(record(RunStatus.FINISHED, epoch=4, step=80, steps_per_epoch=20), None)
    assert (finished.fraction, finished.seconds_left) == (1.0, None)
    queued = progress_bar_state(record(RunStatus.QUEUED), None)
    assert (queued.fraction, queued.num_epochs, queued.total_steps) == (0.0, 4, None)


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (4.4, "4 s"), (75, "1 min 15 s"), (7260, "2 h 01 min"),
                                               (float("inf"), "—")])
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (4.4, "4 s"), (89, "1:29"), (600, "10:00"),
                                               (7263, "2:01:03")])
def test_format_seconds_as_a_clock_for_a_tile(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds, clock=True) == text


def test_projection_cache_aligns_frames_and_throttles_slow_methods() -> None:
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(60, 5)).astype(np.float32)
    calls: list[tuple[str, bool]] = []
    clock = [100.0]

    def counting_project(data: np.ndarray, method: str, previous: np.ndarray | None = None) -> np.ndarray:
        calls.append((method, previous is not None))
        return project(data, "pca", previous=previous)

    cache = ProjectionCache()
    first = cache.points("r", "pca", 10, codes, live=True, project=counting_project, now=lambda: clock[0])
    assert cache.points("r", "pca", 10, codes, live=True, project=counting_project) is first
    # The next snapshot is the same codes, rotated: aligned, it lands on the first frame.
    rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    second = cache.points("r", "pca", 20, codes @ rotation, live=True, project=counting_project)
    assert calls == [("pca", False), ("pca", True)]
    np.testing.assert_allclose(second, first, atol=1e-3)
    cache.points("r", "tsne", 20, codes, live=True, project=counting_project, now=lambda: clock[0])
    clock[0] += SLOW_REFRESH_SECONDS / 2
    cache.points("r", "tsne", 30, codes, live=True, project=counting_project, now=lambda: clock[0])
    assert len(calls) == 3  # too soon for another slow projection while training
    cache.points("r", "tsne", 30, codes, live=False, project=counting_project, now=lambda: clock[0])
    assert len(calls) == 4  # a finished run gets its latest frame at once


# --- figures ----------------------------------------------------------------------

def snapshot(noisy: bool, shape: tuple[int, ...] = (16, 28, 28, 1)) -> dict:
    originals = np.full(shape, 10, dtype=np.uint8)
    return {"epoch": 3, "step": 60, "indices": np.arange(shape[0]), "originals": originals,
            "inputs": np.full(shape, 128, dtype=np.uint8) if noisy else None,
            "reconstructions": np.full(shape, 250, dtype=np.uint8)}


def test_reconstruction_grid_puts_each_reconstruction_under_its_original() -> None:
    grid = figures.reconstruction_grid(snapshot(noisy=False), columns=8, scale=1, gap=2)
    assert grid.dtype == np.uint8 and grid.ndim == 2
    # Two groups of (original row, reconstruction row), 8 across.
    assert grid.shape == (2 + 4 * 30 + 4, 2 + 8 * 30)
    assert grid[2 + 14, 2 + 14] == 10 and grid[2 + 30 + 14, 2 + 14] == 250
    assert grid[2 + 60 + 4 + 14, 2 + 7 * 30 + 14] == 10  # second group, last column: an original
    denoising = figures.reconstruction_grid(snapshot(noisy=True), scale=3)
    assert denoising.shape[0] == 3 * (2 + 6 * 30 + 4)
    assert "noisy input" in figures.grid_caption(snapshot(noisy=True))
    # 10 vs 250 of 255 everywhere: (240 / 255) ** 2 = 0.8858.
    assert figures.snapshot_mse(snapshot(noisy=False)) == pytest.approx((240 / 255) ** 2)
    assert figures.grid_caption(snapshot(noisy=False)).endswith("epoch 3, step 60 · MSE 0.8858")
    colour = figures.reconstruction_grid(snapshot(noisy=False, shape=(5, 32, 32, 3)), columns=8, scale=2)
    assert colour.shape == (2 * (2 + 2 * 34), 2 * (2 + 5 * 34), 3)


def test_reconstruction_grid_rejects_mismatched_arrays() -> None:
    broken = {**snapshot(noisy=False), "reconstructions": np.zeros((3, 28, 28, 1), dtype=np.uint8)}
    with pytest.raises(ValueError, match="same"):
        figures.reconstruction_grid(broken)


def test_loss_figure_uses_epochs_on_x_and_keeps_zoom() -> None:
    history = MetricHistory("d" * 32)
    history.add(rows(("batch", "loss", 0.5, 0, 5, 0.1), ("epoch", "loss", 0.3, 1, 10, 1.0),
                     ("epoch", "val_loss", 0.35, 1, 10, 1.0)))
    figure = figures.loss_figure(history, steps_per_epoch=10, log_scale=True)
    traces = {trace["name"]: list(trace["x"]) for trace in figure["data"]}
    assert traces == {"batch loss": [0.5], "train loss (epoch)": [1.0], "validation loss": [1.0]}
    assert figure["layout"]["uirevision"] == "loss-" + "d" * 32 and figure["layout"]["yaxis"]["type"] == "log"
    assert figures.loss_figure(history, None)["layout"]["xaxis"]["title"]["text"] == "step"


def test_a_zoom_window_sets_both_axes_to_what_it_shows() -> None:
    history = MetricHistory("d" * 32)
    history.add(rows(("batch", "loss", 0.9, 0, 1, 0.1), ("batch", "loss", 0.5, 0, 5, 0.2),
                     ("batch", "loss", 0.4, 0, 8, 0.3), ("epoch", "loss", 0.3, 1, 10, 1.0)))
    whole = figures.loss_figure(history, 10)
    assert "range" not in whole["layout"]["xaxis"] and "range" not in whole["layout"]["yaxis"]
    zoomed = figures.loss_figure(history, 10, window=(0.4, 1.0))["layout"]
    # Only 0.5, 0.4 and 0.3 fall inside epochs 0.4 to 1.0: the 0.9 of step 1 is left out of the y range.
    assert zoomed["xaxis"]["range"] == [0.4, 1.0]
    assert zoomed["yaxis"]["range"] == pytest.approx([0.29, 0.51])
    logged = figures.loss_figure(history, 10, log_scale=True, window=(0.4, 1.0))["layout"]["yaxis"]["range"]
    spare = 0.05 * (np.log10(0.5) - np.log10(0.3))
    assert logged == pytest.approx([np.log10(0.3) - spare, np.log10(0.5) + spare])
    assert zoomed["dragmode"] is False  # Streamlit would throw a drag zoom away at the next update


def test_figure_specs_are_valid_plotly() -> None:
    # The pages skip Plotly's validation for speed, so it is done here instead.
    history = MetricHistory("d" * 32)
    history.add(rows(("batch", "loss", 0.5, 0, 5, 0.1), ("epoch", "val_loss", 0.35, 1, 10, 1.0)))
    go.Figure(figures.loss_figure(history, 10))
    go.Figure(figures.loss_figure(history, 10, window=(0.2, 0.8)))
    go.Figure(figures.latent_figure(np.zeros((3, 2)), np.array([0, 1, 1]), np.arange(3), ("a", "b"),
                                    run_id="r", method_title="PCA"))


def test_latent_figure_has_one_trace_per_class_with_hover_indices() -> None:
    points = np.arange(12, dtype=np.float32).reshape(6, 2)
    figure = figures.latent_figure(points, np.array([0, 1, 0, 2, 1, 0]), np.array([5, 6, 7, 8, 9, 10]),
                                   ("zero", "one", "two"), run_id="e" * 32, method_title="PCA")
    by_name = {trace["name"]: trace for trace in figure["data"]}
    assert list(by_name) == ["zero", "one", "two"]
    assert list(by_name["zero"]["customdata"]) == [5, 7, 10]
    assert list(by_name["zero"]["x"]) == [0.0, 4.0, 10.0]
    assert "image #%{customdata}" in by_name["one"]["hovertemplate"]
    assert figure["layout"]["uirevision"] == f"latent-{'e' * 32}-PCA"


def test_figures_ship_arrays_as_plotly_would_only_sooner() -> None:
    import plotly.io
    import plotly.tools

    def as_sent(spec: dict) -> str:  # what st.plotly_chart sends to the browser
        figure = plotly.tools.return_figure_from_figure_or_data(go.Figure(spec, _validate=False), validate_figure=True)
        return plotly.io.to_json(figure, validate=False)

    arrays = [np.arange(5), np.arange(5) * 1000, np.arange(3, dtype=np.int64) * 2**40, np.arange(4, dtype=np.uint64),
              np.linspace(0, 1, 7), np.ones((3, 4), np.float32), np.zeros((2, 2), np.uint8), np.array([True, False]),
              np.array([], np.float32)]
    spec = {"data": [{"type": "scatter", "x": array, "customdata": [array]} for array in arrays]
            + [{"type": "heatmap", "z": np.arange(12).reshape(3, 4)}], "layout": {"title": {"text": "t"}}}
    assert as_sent(figures.typed_arrays(spec)) == as_sent(spec)
    assert figures.typed_arrays({"x": np.arange(3, dtype=np.float32)})["x"]["dtype"] == "f4"
