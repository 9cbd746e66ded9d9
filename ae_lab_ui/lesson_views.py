"""The Lessons page's views: the lesson catalogue, a step's live runs, and one function per reveal kind.

Each reveal function draws the step's finished (or far enough) runs and returns the
``Outcome``: the measured answer (a choice id, or a number for a slider) and one
sentence with the figures behind it, all computed from the runs, never written down
in advance. ``REVEALS`` maps each kind of ``lesson_measures.REVEAL_KINDS`` to its function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core.data import DATASETS, tile
from ae_core.store import RunRecord
from ae_lab_ui import explore_figures, figures, form, lesson_files, lesson_measures, run_models, views
from ae_lab_ui.services import JobService, attempt


@dataclass(frozen=True)
class Outcome:
    """What a reveal measured: a choice id or a number, and a sentence with the figures."""

    measured: str | float
    sentence: str


@st.cache_resource(max_entries=4, show_spinner=False)
def _catalogue(files: tuple[tuple[str, float], ...]):  # -> tuple[dict[str, Lesson], list[str]]
    return lesson_files.load_lessons(Path(name) for name, _ in files)


def catalogue() -> tuple[dict[str, lesson_files.Lesson], list[str]]:
    """Every lesson and every broken file's message, loaded once per set of files (by name and modification time).

    A teacher's new or edited file is read at the next page run; unchanged files come from the cache.
    """
    paths = lesson_files.lesson_paths(lesson_files.lesson_folders())
    return _catalogue(tuple((str(path), path.stat().st_mtime) for path in paths))


def render_run_tile(manager: JobService, record: RunRecord, *, key_prefix: str) -> None:
    """One of a step's runs while it trains: what it is, its state and progress, and its latest reconstructions."""
    with st.container(border=True, key=f"{key_prefix}_tile"):
        st.markdown(f"{views.status_badge(record)} **{form.describe(record.config)}**")
        progress = record.progress or {}
        epoch, num_epochs = int(progress.get("epoch", 0)), record.config.num_epochs
        st.progress(min(1.0, epoch / num_epochs), text=f"epoch {epoch} of {num_epochs}")
        snapshot = attempt(lambda: manager.latest_snapshot(record.run_id, "reconstruction"),
                           what="read the reconstructions")
        views.render_reconstructions(snapshot, key_prefix=key_prefix)


def _show(images: np.ndarray, caption: str) -> None:
    """A (rows, cols, H, W, C) block of uint8 images as one crisp picture."""
    st.image(tile(images, gap=2, background=128), caption=caption, width="stretch", clamp=True, output_format="PNG")


def _snapshot(manager: JobService, record: RunRecord, kind: str) -> dict:
    snapshot = manager.latest_snapshot(record.run_id, kind)
    if snapshot is None:
        raise run_models.NoModelYet(f"Run {record.run_id[:8]} has no {kind} snapshot yet.")
    return snapshot


def _latent_sweep(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    ordered = sorted(records, key=lambda record: record.config.model.latent_dim)
    sizes = [record.config.model.latent_dim for record in ordered]
    errors = [float((record.result or {})["test_mse"]) for record in ordered]
    views.plot(explore_figures.sweep_figure(sizes, errors), key=f"{key_prefix}_sweep")
    for column, record in zip(st.columns(len(ordered)), ordered, strict=True):
        with column:
            st.caption(f"latent {record.config.model.latent_dim}")
            views.render_reconstructions(_snapshot(manager, record, "reconstruction"),
                                         key_prefix=f"{key_prefix}_{record.config.model.latent_dim}")
    gains = "; ".join(f"from {low} to {high} it fell {before - after:.4f}, {(before - after) / (high - low):.4f} per "
                      "added number" for low, high, before, after in zip(sizes, sizes[1:], errors, errors[1:]))
    return Outcome(lesson_measures.sweep_answer(sizes, errors),
                   "Test MSE " + ", ".join(f"{error:.4f} at latent {size}" for size, error in zip(sizes, errors))
                   + f": {gains}.")


def _by_kind(records: Sequence[RunRecord]) -> list[tuple[str, RunRecord]]:
    """The plain run and the variational one, each with its answer id (as ``lesson_measures`` names them)."""
    pairs = [("variational" if record.config.model.is_variational else "plain", record) for record in records]
    return sorted(pairs, key=lambda pair: pair[0])


def _centred_map(record: RunRecord, snapshot: dict) -> figures.Figure:
    """A run's latent map with its axes' numbers, the origin, and the circle the measure counts codes in."""
    figure = figures.latent_figure(np.asarray(snapshot["codes"]), snapshot["labels"], snapshot["indices"],
                                   DATASETS[record.config.dataset].class_names, run_id=record.run_id,
                                   method_title=form.ARCH_TITLES[record.config.model.arch])
    radius = lesson_measures.CENTRE_RADIUS
    axis = {"showticklabels": True, "zeroline": True, "zerolinecolor": "#888"}
    figure["layout"]["xaxis"].update(axis)
    figure["layout"]["yaxis"].update(axis, scaleanchor="x")
    # The legend under the map: above it, ten classes ran into the title at half the page's width.
    figure["layout"].update(legend={"orientation": "h", "yanchor": "top", "y": -0.05}, height=560, shapes=[
        {"type": "circle", "x0": -radius, "y0": -radius, "x1": radius, "y1": radius,
         "line": {"dash": "dash", "color": "#444"}}])
    return figure


def _two_maps(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    shares = {}
    for column, (name, record) in zip(st.columns(2), _by_kind(records), strict=True):
        snapshot = _snapshot(manager, record, "latent")
        shares[name] = lesson_measures.share_near_centre(snapshot["codes"])
        with column:
            views.plot(_centred_map(record, snapshot), key=f"{key_prefix}_map_{name}")
    answer = lesson_measures.more_central(shares["plain"], shares["variational"])
    return Outcome(answer, f"Codes within {lesson_measures.CENTRE_RADIUS:g} of the centre (0, 0), of the "
                           f"{len(snapshot['codes'])} drawn on each map: plain {shares['plain']:.0%}, "
                           f"VAE {shares['variational']:.0%}.")


def _denoise(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    snapshot = _snapshot(manager, records[0], "reconstruction")
    views.render_reconstructions(snapshot, key_prefix=key_prefix)
    removed = lesson_measures.noise_removed(snapshot["originals"], snapshot["inputs"], snapshot["reconstructions"])
    return Outcome(round(removed, 1), f"On these {len(snapshot['originals'])} test digits the reconstructions removed "
                                      f"{removed:.1f}% of the noisy inputs' squared error.")


def _generate(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    from ae_core import analysis

    distances = {}
    for column, (name, record) in zip(st.columns(2), _by_kind(records), strict=True):
        path = run_models.model_file(manager, record.run_id)
        bundle, data = run_models.load_bundle(path), run_models.map_data(path, record.config)
        codes = np.random.default_rng(0).standard_normal((lesson_measures.PRIOR_SAMPLES, 2)).astype(np.float32)
        samples = analysis.decode(bundle, codes)
        distances[name] = lesson_measures.nearest_distance(samples, data.images)
        _, _, plane = analysis.decode_plane(bundle, data.plane, analysis.plane_bounds(data.points), 10)
        with column:
            st.markdown(f"**{form.ARCH_TITLES[record.config.model.arch]}**")
            # decode_plane puts the lowest y first; drawn top down, the plane would be upside down.
            _show(plane[::-1], "Its latent plane, decoded on a 10×10 grid over where its codes lie")
            _show(samples[:32].reshape(4, 8, *samples.shape[1:]), "32 random codes from N(0, I), decoded")
    answer = lesson_measures.more_digit_like(distances["plain"], distances["variational"])
    return Outcome(answer, f"Mean distance (MSE) from each of {lesson_measures.PRIOR_SAMPLES} decoded random codes to "
                           f"the nearest real test digit: plain {distances['plain']:.4f}, VAE "
                           f"{distances['variational']:.4f}.")


def _anomaly(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    from ae_core import analysis

    record = records[0]
    config, held_out = record.config, record.config.exclude_class
    ranking = run_models.error_ranking(run_models.model_file(manager, record.run_id), config)
    _, labels = run_models.test_split(config)
    class_names = DATASETS[config.dataset].class_names
    left, right = st.columns(2, gap="large")
    with left:
        pictures = np.stack([ranking.originals, ranking.reconstructions])
        _show(pictures, f"The {len(ranking.worst)} worst-reconstructed test images (top) and their reconstructions")
        st.caption("Classes, worst first: " + ", ".join(class_names[label] for label in labels[ranking.worst]))
    with right:
        by_class = analysis.errors_by_class(ranking.errors, labels, len(class_names))
        views.plot(explore_figures.error_histogram(by_class, class_names, held_out=held_out),
                   key=f"{key_prefix}_by_class")
    count = lesson_measures.held_out_among_worst(labels[ranking.worst], held_out)
    means = {label: float(np.mean(errors)) for label, errors in by_class.items() if len(errors)}
    rank = sorted(means, key=means.get, reverse=True).index(held_out) + 1
    return Outcome(count, f"{count} of the {len(ranking.worst)} worst are {class_names[held_out]}s; by mean error the "
                          f"held-out class ranks {rank} of {len(means)} ({means[held_out]:.4f}).")


def _probe(manager: JobService, records: Sequence[RunRecord], key_prefix: str) -> Outcome:
    from ae_core.analysis.probe import code_probe, pixel_probe

    config = records[0].config
    path = run_models.model_file(manager, records[0].run_id)
    with st.spinner("Fitting logistic regression on the pixels and on the codes…"):
        pixels = pixel_probe(config.dataset, config.grayscale)
        codes = code_probe(config.dataset, config.grayscale, path, load=run_models.load_bundle)
    left, right = st.columns(2)
    left.metric(f"Raw pixels ({pixels.num_features} numbers)", f"{pixels.accuracy:.1%}", border=True)
    right.metric(f"Codes ({codes.num_features} numbers)", f"{codes.accuracy:.1%}", border=True,
                 delta=f"{(codes.accuracy - pixels.accuracy) * 100:+.1f} points")
    return Outcome(lesson_measures.probe_winner(pixels.accuracy, codes.accuracy),
                   f"Test accuracy on {pixels.num_test:,} digits: pixels {pixels.accuracy:.1%}, codes "
                   f"{codes.accuracy:.1%}.")


REVEALS: dict[str, Callable[[JobService, Sequence[RunRecord], str], Outcome]] = {
    "latent_sweep": _latent_sweep, "two_maps": _two_maps, "denoise": _denoise, "generate": _generate,
    "anomaly": _anomaly, "probe": _probe,
}
