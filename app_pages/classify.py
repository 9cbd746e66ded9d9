"""Classify page: do a trained autoencoder's codes help classify images? Four answers side by side.

The two logistic-regression probes (raw pixels, and the run's codes) are fitted on a fixed
sample of the run's data (at most 5,000 training and 2,000 test images) and kept on disk
(``ae_core.analysis.probe``): the server's warm-up fits the pixel probes, and the code probes
of the newest runs, before anyone asks. The two neural classifiers (the reference CNN, and
the run's encoder with a dense head, fine-tuned) train for minutes, so they are
submitted to the job service as classifier runs and watched live here, like the Train
page watches an autoencoder; their finished results fill the rest of the table.
"""

from __future__ import annotations

import streamlit as st

from ae_core.analysis import CLASSIFY_TITLES
from ae_core.analysis.probe import code_probe, pixel_probe
from ae_core.config import AUGMENTATIONS, CLASSIFIERS
from ae_core.data import DATASETS
from ae_core.store import RunStatus
from ae_lab_ui import classify_views, form, run_models, views
from ae_lab_ui.history import MetricHistory, ProjectionCache
from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import attempt, get_manager, keep_error, show_kept_errors

LIVE_SECONDS = 1.0
POLL_KEY = "classify_live_polling"
AUGMENT_TITLES = {"crop": "random crop", "flip": "horizontal flip", "rotate": "small rotation"}


def _start(source_id: str) -> None:
    """Submit the chosen classifier (a button callback: errors are kept for the page to show)."""
    state = st.session_state
    try:
        source = manager.get_run(source_id)
        config = classify_views.classify_config(
            source, state["classify_kind"], num_epochs=state["classify_epochs"],
            batch_size=state["classify_batch_size"], augment=state["classify_augment"],
            train_limit=state["classify_train_limit"])
        manager.submit(config, current_actor())
    except Exception as error:  # noqa: BLE001 - shown in plain words by show_kept_errors
        keep_error("classify", "start the classifier", error)


def live_classifiers(source_id: str) -> None:
    """The newest CNN and encoder-head runs of this autoencoder run, redrawn every second while one trains."""
    fresh = attempt(manager.list_runs, what="list the runs") or []
    source = next((record for record in fresh if record.run_id == source_id), None)
    shown = classify_views.newest(classify_views.related_runs(fresh, source), finished=False) if source else {}
    if not shown:
        st.info("No classifier has been trained on this run's data yet.", icon=":material/model_training:")
    histories: dict[str, MetricHistory] = st.session_state.setdefault("classify_histories", {})
    for kind, record in shown.items():
        with st.container(border=True, key=f"classify_live_{kind}"):
            st.markdown(f"**{CLASSIFY_TITLES[kind]}** · {form.describe(record.config)}")
            history = histories.setdefault(record.run_id, MetricHistory(record.run_id))
            attempt(lambda: history.refresh(manager.metrics_since), what="read the metrics")
            views.render_run(manager, record, history, ProjectionCache(), key_prefix=f"classify_{kind}",
                             live=record.status.is_active)
    # A fragment's interval is set by the full page run: when a classifier starts or ends, redraw
    # the whole page once, so the polling starts or stops and the table takes in its result.
    if any(record.status.is_active for record in shown.values()) != st.session_state.get(POLL_KEY):
        st.rerun(scope="app")


st.title("Do autoencoder codes help classify?")
st.markdown("Four ways to classify the same images: logistic regression on the raw pixels and on the codes of a "
            "trained autoencoder, that autoencoder's encoder with a dense head fine-tuned on the labels, and the "
            "reference CNN. On MNIST the codes come close to the pixels but do not beat them; the CNN does.")
manager = get_manager()
show_kept_errors("classify")
runs = attempt(manager.list_runs, what="list the runs")
finished = {record.run_id: record for record in runs or []
            if record.status is RunStatus.FINISHED and record.config.task == "reconstruct"}
# The picker takes in autoencoder runs that finish while the page is open.
run_models.watch_runs(manager, [record for record in runs or [] if record.config.task == "reconstruct"])
if not finished:
    if runs is not None:
        st.info("Finish a run on the Train page first; its codes are what gets tested here.",
                icon=":material/model_training:")
    st.stop()

run_id = st.selectbox("Autoencoder run", list(finished), format_func=lambda rid: views.run_label(finished[rid]),
                      key="classify_run")
config = finished[run_id].config
spec = DATASETS[config.dataset]
path = attempt(lambda: run_models.model_file(manager, run_id), what="find the run's model")
probes = None
if path is not None:
    with st.spinner("Fitting logistic regression on the pixels and on the codes (once per run)…"):
        probes = attempt(lambda: {"pixels": pixel_probe(config.dataset, config.grayscale),
                                  "codes": code_probe(config.dataset, config.grayscale, path,
                                                      load=run_models.load_bundle)}, what="fit the probes")
related = classify_views.related_runs(runs or [], finished[run_id])
trained = classify_views.newest(related, finished=True)
if probes:
    pixels, codes = probes["pixels"], probes["codes"]
    table = [classify_views.probe_row(CLASSIFY_TITLES[name], probe) for name, probe in probes.items()]
    table += [classify_views.table_row(CLASSIFY_TITLES[kind], trained.get(kind), pixels.num_features)
              for kind in CLASSIFY_TITLES if kind in CLASSIFIERS]
    st.dataframe(table, hide_index=True, key="classify_table")
    gap = codes.accuracy - pixels.accuracy
    st.markdown(f"The {codes.num_features}-number codes score **{codes.accuracy:.1%}**, the {pixels.num_features} "
                f"pixels **{pixels.accuracy:.1%}** ({gap:+.1%}), on {pixels.num_train:,} training and "
                f"{pixels.num_test:,} test images of {spec.title}. The neural classifiers are scored on the whole "
                "test split.")
    confusions = {name: probe.confusion for name, probe in probes.items()}
    for kind, record in trained.items():
        if classify_views.confusion_of(record.result) is not None:
            confusions[kind] = classify_views.confusion_of(record.result)
    shown = st.segmented_control("Confusion matrix of", list(confusions), default="codes", required=True,
                                 format_func=CLASSIFY_TITLES.get, key="classify_confusion_of")
    views.plot(classify_views.confusion_figure(confusions[shown], spec.class_names, CLASSIFY_TITLES[shown]),
               key="classify_confusion")

st.subheader("Train the neural classifiers")
with st.container(border=True, key="classify_form"):
    st.segmented_control("Classifier", CLASSIFIERS, default="cnn", required=True, key="classify_kind",
                         format_func=CLASSIFY_TITLES.get)
    left, middle, right = st.columns(3)
    left.number_input("Epochs", 1, 200, 5, key="classify_epochs")
    middle.selectbox("Batch size", form.BATCH_CHOICES, index=form.BATCH_CHOICES.index(64), key="classify_batch_size")
    right.selectbox("Training images", form.EXAMPLE_LIMIT_CHOICES, index=form.EXAMPLE_LIMIT_CHOICES.index(10000),
                    format_func=lambda n: "all" if n == 0 else f"{n:,}", key="classify_train_limit")
    st.multiselect("Augmentation", AUGMENTATIONS, default=[], format_func=AUGMENT_TITLES.get, key="classify_augment")
    st.caption("The CNN: three conv+pool blocks of 32, 64 and 128 filters, Dense 128, softmax; Adam on categorical "
               "cross-entropy. The encoder + dense head starts from this run's encoder. Training runs in the "
               "background service: leave the page and come back.")
    st.button("Train this classifier", key="classify_start", type="primary", icon=":material/play_arrow:",
              on_click=_start, args=(run_id,))

# Read after the form's callback: a classifier just submitted is active, so the live view polls at once.
st.session_state[POLL_KEY] = any(record.status.is_active for record in classify_views.newest(related, finished=False)
                                 .values())
st.fragment(live_classifiers, run_every=LIVE_SECONDS if st.session_state[POLL_KEY] else None)(run_id)
