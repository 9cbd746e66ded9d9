"""Compare page: 2-4 finished runs side by side, and the latent-size sweep.

Side by side: the loss curves share one set of axes, the same test images are
reconstructed by every model, and each run's latent map sits in its own column. The
sweep queues one config at latent sizes 2 to 64 through the job service and plots test
MSE against latent size as the runs finish: while any of its runs is queued or training, a
fragment re-reads just those runs every two seconds, and stops once none is.
"""

from __future__ import annotations

import streamlit as st

from ae_core import analysis
from ae_core.analysis import METHOD_TITLES
from ae_core.data import DATASETS, datasets, fixed_sample
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import compare, explore_figures, figures, form, run_models, views
from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import attempt, get_manager, how_to_get

REFRESH_SECONDS = 2.0
NUM_IMAGES = 8

st.title("Compare runs")
manager = get_manager()
runs = attempt(manager.list_runs, what="list the runs")
if runs is None:
    st.stop()
# Classifier runs have no decoder or latent space, so only autoencoder runs are compared here.
runs = [record for record in runs if record.config.task == "reconstruct"]
by_id = {record.run_id: record for record in runs}
run_models.watch_runs(manager, runs)  # the pickers take in runs that finish while the page is open


def label(run_id: str) -> str:
    return views.run_label(by_id[run_id])


def side_by_side(chosen: list[RunRecord]) -> None:
    series = {}
    for number, record in enumerate(chosen, start=1):
        rows = attempt(lambda: manager.metrics_since(record.run_id, 0), what="read the loss curve")
        series[f"{number}. {form.describe(record.config)}"] = rows or []
    left, right = st.columns([2, 1])
    metric_key = left.segmented_control(
        "Curve", ("mse", "loss"), default="mse", required=True, key="compare_metric",
        format_func={"mse": "MSE (comparable across runs)", "loss": "each run's own loss"}.get)
    log_scale = right.toggle("Logarithmic axis", key="compare_log_scale")
    views.plot(compare.loss_comparison_figure(series, metric_key=metric_key, log_scale=log_scale), key="compare_loss")
    st.subheader("The same test images, reconstructed by each model")
    shapes = {(record.config.dataset, record.config.grayscale) for record in chosen}
    columns = st.columns(len(chosen))
    for number, (column, record) in enumerate(zip(columns, chosen), start=1):
        with column:
            st.markdown(f"**{number}.** {form.describe(record.config)}")
            result = record.result or {}
            if "test_mse" in result:
                st.caption(f"test MSE {result['test_mse']:.5f} · PSNR {result.get('test_psnr', float('nan')):.1f} dB")
            if not datasets.is_available_offline(record.config.dataset):
                # Said once per run in words, not as one error per picture (each would offer the same button).
                st.info(how_to_get(record.config.dataset), icon=":material/cloud_download:")
                continue
            path = attempt(lambda: run_models.model_file(manager, record.run_id), what="find the run's model")
            bundle = attempt(lambda: run_models.load_bundle(path), what="load the model") if path else None
            if bundle is None:
                continue
            split = attempt(lambda: run_models.test_split(record.config), what="load the test images")
            if split is not None and len(shapes) == 1:
                images = split[0][fixed_sample(len(split[0]), NUM_IMAGES, seed=7)]
                snapshot = {"originals": images, "reconstructions": analysis.reconstruct(bundle, images)}
                st.image(figures.reconstruction_grid(snapshot, columns=8), caption="originals above reconstructions",
                         output_format="PNG", width="stretch")
            data = attempt(lambda: run_models.map_data(path, record.config), what="encode the test images")
            if data is not None:
                method = METHOD_TITLES[data.plane.method]
                figure = figures.latent_figure(data.points, data.labels, data.indices,
                                               DATASETS[record.config.dataset].class_names, run_id=record.run_id,
                                               method_title=method)
                figure["layout"].update(height=380, showlegend=False)
                views.plot(figure, key=f"compare_latent_{number}")
    if len(shapes) > 1:
        st.info("These runs use different datasets, so there are no common test images to reconstruct.")


def sweep_status(member_ids: dict[int, str], polling: bool) -> None:
    """The sweep's runs and test MSE against latent size, from one cheap read per run.

    A fragment's interval is set by the full page run: when the sweep's runs stop (or start)
    being active, the whole page is redrawn once, so the polling stops (or starts).
    """
    members = {}
    for size, run_id in member_ids.items():
        record = attempt(lambda: manager.get_run(run_id), what=f"read the run of latent size {size}")
        if record is not None:
            members[size] = record
    sizes, mse = compare.sweep_points(members)
    if sizes:
        views.plot(explore_figures.sweep_figure(sizes, mse), key="compare_sweep_chart")
    else:
        st.info("Test MSE appears here as the sweep's runs finish.", icon=":material/hourglass_top:")
    st.dataframe(compare.sweep_table(members, views.status_word), hide_index=True, key="compare_sweep_table")
    if any(record.status.is_active for record in members.values()) != polling:
        st.rerun(scope="app")


tab_side, tab_sweep = st.tabs(["Side by side", "Latent-size sweep"])
with tab_side:
    finished = [record.run_id for record in runs if record.status is RunStatus.FINISHED]
    if len(finished) < 2:
        st.info("Finish at least two runs to compare them here.", icon=":material/compare:")
    else:
        chosen_ids = st.multiselect("Runs to compare (2 to 4)", finished, default=finished[:2], max_selections=4,
                                    format_func=label, key="compare_runs")
        if len(chosen_ids) < 2:
            st.info("Pick at least two runs.", icon=":material/compare:")
        else:
            side_by_side([by_id[run_id] for run_id in chosen_ids])

with tab_sweep:
    st.markdown("Queue the same settings at latent sizes "
                f"{', '.join(map(str, compare.SWEEP_LATENT_SIZES))}: how small can the code get before the "
                "reconstructions suffer?")
    if not runs:
        st.info("Start one run on the Train page first; its settings are the sweep's.", icon=":material/tune:")
        st.stop()
    base_id = st.selectbox("Settings from run", list(by_id), format_func=label, key="compare_sweep_base")
    base = by_id[base_id]
    if st.button("Queue the latent-size sweep", key="compare_sweep_start", icon=":material/stacked_line_chart:"):
        present = compare.sweep_members(runs, base.config)
        configs = attempt(lambda: compare.sweep_configs(base.config), what="prepare the sweep") or []
        queued: list[int] = []
        for size, config in zip(compare.SWEEP_LATENT_SIZES, configs):
            if size in present:
                continue
            if not attempt(lambda: manager.submit(config, current_actor()), what=f"queue latent size {size}"):
                break  # a class's queue limit, say: the rest would be refused for the same reason
            queued.append(size)
        if queued:
            st.success(f"Queued latent sizes {', '.join(map(str, queued))}.")
        elif configs and all(size in present for size in compare.SWEEP_LATENT_SIZES):
            st.success("Every latent size of this sweep has a run already.")
        # Read again: the runs just queued are active, so the sweep's status polls from now on.
        runs = [record for record in attempt(manager.list_runs, what="list the runs") or runs
                if record.config.task == "reconstruct"]
    members = compare.sweep_members(runs, base.config)
    active = any(record.status.is_active for record in members.values())
    st.fragment(sweep_status, run_every=REFRESH_SECONDS if active else None)(
        {size: record.run_id for size, record in members.items()}, active)
