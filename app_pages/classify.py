"""Classify page: do a trained autoencoder's codes help classify images?

The two logistic-regression probes (raw pixels, and the run's codes) are fitted here on
a fixed sample of the run's data (at most 5,000 training and 2,000 test images) in a few
seconds, and cached per model file. The two neural classifiers (the encoder with a
fine-tuned dense head, and the reference CNN) train for minutes; the job service does
not run classifier jobs yet, so they are trained with ``bench/bench_classify.py``.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from ae_core.codes_study import METHOD_TITLES
from ae_core.datasets import DATASETS, load_dataset
from ae_core.runs import RunStatus
from ae_lab_ui import form, run_models
from ae_lab_ui.services import attempt, get_manager

TRAIN_LIMIT, TEST_LIMIT = 5000, 2000
PROBES = ("pixels_logistic", "codes_logistic")


def _splits(dataset: str, grayscale: bool):  # -> ae_core.datasets.Splits
    return load_dataset(dataset, validation_fraction=0.0, grayscale=grayscale, download=False)


@st.cache_resource(max_entries=4, show_spinner="Fitting logistic regression on the pixels (once per dataset)…")
def pixel_probe(dataset: str, grayscale: bool):  # -> ae_core.codes_study.StudyEntry
    """The pixel probe depends on the data only, so every run of a dataset shares it."""
    from ae_core.codes_study import run_study

    return run_study(_splits(dataset, grayscale), None, methods=("pixels_logistic",), train_limit=TRAIN_LIMIT,
                     test_limit=TEST_LIMIT, max_iter=200)[0]


@st.cache_resource(max_entries=8, show_spinner="Fitting logistic regression on the codes…")
def code_probe(path: str, mtime: float, dataset: str, grayscale: bool):  # -> ae_core.codes_study.StudyEntry
    """The code probe of one model file, on the same images as the pixel probe."""
    from ae_core.codes_study import run_study

    bundle = run_models.load_bundle(Path(path))
    return run_study(_splits(dataset, grayscale), bundle, methods=("codes_logistic",), train_limit=TRAIN_LIMIT,
                     test_limit=TEST_LIMIT, max_iter=200)[0]


def confusion_figure(confusion, class_names, title: str) -> go.Figure:
    figure = go.Figure(go.Heatmap(z=confusion, x=list(class_names), y=list(class_names), colorscale="Blues",
                                  hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
                                  texttemplate="%{z}", showscale=False))
    figure.update_layout(title=title, height=460, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         xaxis={"title": "predicted", "type": "category"},
                         yaxis={"title": "true", "autorange": "reversed", "type": "category"})
    return figure


st.title("Do autoencoder codes help classify?")
st.markdown("A straight line (logistic regression) is fitted once on the raw pixels and once on the codes of a "
            "trained autoencoder. Codes that score close to the pixels, with far fewer numbers, kept what the "
            "class depends on. On MNIST they come close but do not beat the pixels; the CNN does.")
manager = get_manager()
runs = attempt(manager.list_runs, what="list the runs")
finished = {record.run_id: record for record in runs or [] if record.status is RunStatus.FINISHED}
if not finished:
    if runs is not None:
        st.info("Finish a run on the Train page first; its codes are what gets tested here.",
                icon=":material/model_training:")
    st.stop()

run_id = st.selectbox("Autoencoder run", list(finished), format_func=lambda rid: form.describe(finished[rid].config),
                      key="classify_run")
config = finished[run_id].config
spec = DATASETS[config.dataset]
path = attempt(lambda: run_models.model_file(manager, run_id), what="find the run's model")
entries = None
if path is not None:
    entries = attempt(lambda: [pixel_probe(config.dataset, config.grayscale),
                               code_probe(str(path), path.stat().st_mtime, config.dataset, config.grayscale)],
                      what="fit the probes")
if entries:
    table = [{"method": entry.title, "numbers per image": entry.num_features, "test accuracy": entry.accuracy,
              "seconds": round(entry.seconds, 1)} for entry in entries]
    st.dataframe(table, hide_index=True, key="classify_table",
                 column_config={"test accuracy": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                                  max_value=1)})
    pixels, codes = entries
    gap = codes.accuracy - pixels.accuracy
    st.markdown(f"The {codes.num_features}-number codes score **{codes.accuracy:.1%}**, the {pixels.num_features} "
                f"pixels **{pixels.accuracy:.1%}** ({gap:+.1%}), on {pixels.num_train:,} training and "
                f"{pixels.num_test:,} test images of {spec.title}.")
    shown = st.segmented_control("Confusion matrix of", PROBES, default="codes_logistic", required=True,
                                 format_func=METHOD_TITLES.get, key="classify_confusion_of")
    entry = entries[PROBES.index(shown)]
    st.plotly_chart(confusion_figure(entry.confusion, spec.class_names, entry.title), key="classify_confusion")

st.info("The other two contenders, the encoder with a fine-tuned dense head and the reference CNN (three "
        "conv+pool blocks of 32, 64 and 128 filters, Dense 128, softmax; optional random crop, flip and rotation), "
        "train for minutes and are not run by the training service yet. Train and score all four from a terminal: "
        f"`python bench/bench_classify.py --dataset {config.dataset if config.dataset != 'mnist_sample' else 'mnist'}`.",
        icon=":material/terminal:")
