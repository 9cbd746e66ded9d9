"""Explore page: look inside a trained model by decoding its latent space.

A finished run (or the latest checkpoint of one still training) is loaded once and kept
in memory; every control below only decodes a few images, which takes milliseconds.
The computations live in ``ae_core.analysis.latent`` and ``ae_core.data.uploads``; this page draws.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ae_core import analysis
from ae_core.data import DATASETS, MAX_UPLOAD_BYTES, fit_to_shape, load_upload, tile
from ae_lab_ui import explore_figures, run_models, views
from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import attempt, get_manager

MAX_SLIDER_DIMS = 16
TAB_KEY = "explore_tab"
SLIDER_KEY_PREFIX = "explore_z"  # + the code number and the run id
KEPT_SETTINGS = ("explore_grid_size", "explore_from", "explore_to", "explore_steps", "explore_mnist_style",
                 "explore_hold_out")

st.title("Explore a trained model")
manager = get_manager()
listed = attempt(manager.list_runs, what="list the runs")
autoencoders = [record for record in listed or [] if record.config.task == "reconstruct"]
runs = attempt(lambda: run_models.explorable(autoencoders, lambda rid: manager.latest_model_path(rid) is not None),
               what="find the runs' models") if listed is not None else None
if not runs:
    if runs is not None:
        st.info("Train a model first: a finished autoencoder run (or one past its first epoch) can be explored "
                "here. Classifier runs are not listed: they have no latent space.",
                icon=":material/travel_explore:")
        run_models.watch_runs(manager, autoencoders)
    st.stop()

by_id = {record.run_id: record for record in runs}
wanted = st.query_params.get("run_id")
if wanted is not None and wanted not in by_id:
    # A link to a run that is gone, or has nothing to explore: say so, rather than quietly showing another.
    st.warning(f"The run in this link ({wanted[:12]}) is not here or has no model to explore; showing the newest "
               "run that has one instead.", icon=":material/link_off:")
run_id = st.selectbox("Run", list(by_id), index=list(by_id).index(wanted) if wanted in by_id else 0, key="explore_run",
                      format_func=lambda rid: views.run_label(by_id[rid]))
st.query_params["run_id"] = run_id
run_models.watch_runs(manager, autoencoders)  # the picker takes in runs that finish while the page is open
record = by_id[run_id]
config, spec = record.config, DATASETS[record.config.dataset]
path = attempt(lambda: manager.latest_model_path(run_id), what="find the run's model")
if path is None:
    if record.status.is_active:
        st.info("This run has no saved model yet: the first one is written when its first epoch ends, and this "
                "page opens it then by itself.", icon=":material/hourglass_top:")
        run_models.rerun_when_changed(False, lambda: manager.latest_model_path(run_id) is not None)
    else:
        st.info("This run saved no model, so there is nothing to explore in it.", icon=":material/inventory_2:")
    st.stop()
bundle = attempt(lambda: run_models.load_bundle(path), what="load the model")
data = attempt(lambda: run_models.map_data(path, config), what="encode the test images") if bundle else None
if data is None:
    st.stop()
if record.status.is_active:
    st.caption("This run is still training: you are looking at its last finished epoch.")
latent_dim = config.model.latent_dim
bounds = analysis.plane_bounds(data.points)
plane_word = "the 2-D code itself" if latent_dim <= 2 else "the plane of the codes' first two principal components"
# Only the open tab is drawn (switching tabs reruns the page): the others cost the server
# decoding and the browser the drawing canvas, on every open of the page. Streamlit forgets
# the value of a widget that a run does not draw, so the closed tabs' settings are stored
# again here, and a person finds them as they left them.
for name in [name for name in st.session_state if name in KEPT_SETTINGS or name.startswith(SLIDER_KEY_PREFIX)]:
    st.session_state[name] = st.session_state[name]
tab_map, tab_walk, tab_dims, tab_yours, tab_errors = st.tabs(
    ["Latent map", "Interpolate", "Sample & sliders", "Your image", "Errors"], key=TAB_KEY, on_change="rerun")


def show(images: np.ndarray, caption: str, *, width: int | str = "stretch") -> None:
    """Show uint8 images (n, H, W, C) side by side as one strip."""
    st.image(tile(images[None], gap=2, background=128), caption=caption, width=width, clamp=True,
             output_format="PNG")


if tab_map.open:
    with tab_map:
        grid_size = st.slider("Decoded grid size", 4, 24, 12, key="explore_grid_size",
                              help="How many decoded images per side are drawn under the map.")
        xs, ys, grid = analysis.decode_plane(bundle, data.plane, bounds, grid_size)
        figure = explore_figures.plane_figure(
            data.points, data.labels, data.indices, spec.class_names, run_id=run_id, bounds=bounds,
            method_title="raw" if latent_dim <= 2 else "PCA (decodable)", background=tile(grid, gap=0))
        left, right = st.columns([3, 1], gap="large")
        with left:
            event = views.plot(figure, key="explore_map", on_select="rerun", selection_mode="points")
        with right:
            st.markdown(f"**Click anywhere on the map** to decode that spot. The map is {plane_word}.")
            picked = explore_figures.picked_point(event)
            if picked is not None:
                x, y = picked
                code = data.plane.to_codes(np.array([[x, y]], np.float32))
                show(analysis.decode(bundle, code), f"decoded at ({x:.2f}, {y:.2f})", width=200)
            else:
                st.info("Nothing picked yet.", icon=":material/ads_click:")

if tab_walk.open:
    with tab_walk:
        count = len(data.images)
        left, middle, right = st.columns(3)
        first = left.number_input("From test image #", 0, count - 1, 0, key="explore_from")
        second = middle.number_input("To test image #", 0, count - 1, min(1, count - 1), key="explore_to")
        num_steps = right.slider("Steps", 8, 12, 10, key="explore_steps")
        _, strip = analysis.interpolate(bundle, data.images[first], data.images[second], num_steps)
        show(data.images[[first]], f"from: {spec.class_names[data.labels[first]]}", width=96)
        show(strip, f"{num_steps} decoded steps along the straight line between the two codes")
        show(data.images[[second]], f"to: {spec.class_names[data.labels[second]]}", width=96)

if tab_dims.open:
    with tab_dims:
        if config.model.is_variational:
            st.markdown("**Samples from the prior.** A VAE is trained so that codes drawn from a standard normal "
                        "decode to plausible images.")
            seed = st.session_state.setdefault("explore_sample_seed", 0)
            if st.button("Draw new samples", key="explore_resample", icon=":material/casino:"):
                seed = st.session_state["explore_sample_seed"] = seed + 1
            show(analysis.sample_prior(bundle, 12, seed=seed)[1], f"12 draws from N(0, I) (seed {seed})")
        if latent_dim > MAX_SLIDER_DIMS:
            st.info(f"Sliders are offered for codes of up to {MAX_SLIDER_DIMS} numbers; this one has {latent_dim}.")
        else:
            st.markdown("**One slider per code number.** They start at the code of test image #0.")
            ranges = analysis.code_ranges(data.codes)
            columns = st.columns([2, 1])
            with columns[0]:
                code = np.array([[st.slider(f"z{dim}", float(low), float(high),
                                            float(np.clip(data.codes[0, dim], low, high)),
                                            key=f"{SLIDER_KEY_PREFIX}{dim}_{run_id}")
                                  for dim, (low, high) in enumerate(ranges)]])
            with columns[1]:
                show(analysis.decode(bundle, code.astype(np.float32)), "decoded", width=220)

if tab_yours.open:
    with tab_yours:
        st.markdown(f"Upload a PNG or JPEG (at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB); it is converted to "
                    f"{spec.image_shape[0]}x{spec.image_shape[1]} "
                    f"{'grayscale' if config.image_shape[2] == 1 else 'colour'}.")
        mnist_style = st.checkbox("MNIST style: light ink on black, centred", value=config.image_shape[2] == 1,
                                  key="explore_mnist_style",
                                  help="Inverts a dark-on-light picture and centres the ink.")
        # The uploader's own limit, so the browser says the same as the line above whatever config the server read.
        upload = st.file_uploader("Image", type=["png", "jpg", "jpeg"], key="explore_upload",
                                  max_upload_size=MAX_UPLOAD_BYTES // 1024 // 1024)
        image = None
        if upload is not None:
            image = attempt(lambda: load_upload(upload.getvalue(), config.image_shape, mnist_style=mnist_style),
                            what="read that image")
        if image is None and config.image_shape[2] == 1:
            from ae_lab_ui import drawing

            strokes = drawing.canvas("explore_canvas")
            if strokes is not None:
                image = attempt(lambda: fit_to_shape(strokes, config.image_shape, mnist_style=True),
                                what="read the drawing")
        if image is not None:
            code = analysis.encode(bundle, image[None])
            left, right = st.columns([1, 2])
            with left:
                show(np.stack([image, analysis.decode(bundle, code)[0]]), "what the model sees · its reconstruction")
            with right:
                spot = data.plane.to_plane(code)[0]
                views.plot(explore_figures.plane_figure(
                    data.points, data.labels, data.indices, spec.class_names, run_id=run_id, bounds=bounds,
                    method_title="where your image lands", background=None, marker=(float(spot[0]), float(spot[1]))),
                    key="explore_your_map")

if tab_errors.open:
    with tab_errors:
        ranking = attempt(lambda: run_models.error_ranking(path, config), what="reconstruct the test split")
        if ranking is not None:
            st.markdown(f"**The 12 worst reconstructions** of {len(ranking.errors):,} test images "
                        f"(mean MSE {ranking.errors.mean():.4f}): originals, reconstructions, and where the error is.")
            show(ranking.originals, "originals, worst first")
            show(ranking.reconstructions, "reconstructions")
            views.plot(explore_figures.error_maps_figure(ranking.error_maps, ranking.errors[ranking.worst]),
                       key="explore_error_maps")
            _, labels = run_models.test_split(config)
            by_class = analysis.errors_by_class(ranking.errors, labels, spec.num_classes)
            views.plot(explore_figures.error_histogram(by_class, spec.class_names, held_out=config.exclude_class),
                       key="explore_error_histogram")
            if config.exclude_class is None:
                st.markdown("**Anomaly demo.** Train the same model without one class: that class's errors stand out.")
                held = st.selectbox("Class to hold out", range(spec.num_classes),
                                    format_func=spec.class_names.__getitem__,
                                    key="explore_hold_out")
                if st.button("Train it with this class held out", key="explore_train_held_out",
                             icon=":material/science:"):
                    new_id = attempt(lambda: manager.submit(config.replace(exclude_class=held), current_actor()),
                                     what="start the run")
                    if new_id:
                        st.success("Queued. It appears in the run list above once its first epoch ends.")
                        queued = attempt(lambda: manager.get_run(new_id), what="read the new run")
                        run_models.watch_runs(manager, [queued] if queued else [])
