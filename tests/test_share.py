"""Unit tests of share links (ae_lab_ui.share) and the presenter view's figures: no streamlit, no TensorFlow."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ae_lab_ui import figures, form, share

DEFAULT_DATASET = "mnist_sample"


def other_value(name: str):
    """A valid value of field ``name`` that is not its default."""
    default = DEFAULT_DATASET if name == "dataset" else form.DEFAULTS[name]
    if name in form.BOOLEAN_FIELDS:
        return not default
    if name in form.CHOICES:
        return next(choice for choice in form.CHOICES[name] if choice != default)
    low, high, _ = form.RANGES[name]
    return high if default != high else low


def split(settings: dict) -> tuple[str, dict]:
    return settings.get("dataset", DEFAULT_DATASET), {k: v for k, v in settings.items() if k != "dataset"}


def test_the_link_knows_every_field_of_the_form_and_each_has_its_facts() -> None:
    assert set(share.FIELDS) == {"dataset", *form.DEFAULTS}
    for name in form.DEFAULTS:
        assert (name in form.CHOICES) + (name in form.RANGES) + (name in form.BOOLEAN_FIELDS) == 1, name


@pytest.mark.parametrize("name", share.FIELDS)
def test_every_field_round_trips_alone_and_the_link_holds_only_it(name: str) -> None:
    dataset, values = split({name: other_value(name)})
    params = share.encode(dataset, {**form.DEFAULTS, **values}, default_dataset=DEFAULT_DATASET)
    assert list(params) == [name]
    assert share.decode(params) == share.Link(values={name: other_value(name)})


def test_all_fields_round_trip_together_with_the_lessons_flags() -> None:
    settings = {name: other_value(name) for name in share.FIELDS}
    dataset, values = split(settings)
    params = share.encode(dataset, values, default_dataset=DEFAULT_DATASET, locked=["latent_dim", "arch"],
                          hidden=["seed"], present=True)
    assert params["lock"] == "arch,latent_dim" and params["hide"] == "seed" and params["present"] == "1"
    link = share.decode(params)
    assert link.values == settings and link.problems == ()
    assert (link.locked, link.hidden, link.present) == (("arch", "latent_dim"), ("seed",), True)


def test_defaults_are_left_out_of_the_link() -> None:
    assert share.encode(DEFAULT_DATASET, form.DEFAULTS, default_dataset=DEFAULT_DATASET) == {}
    assert share.link("http://lab:8501/", {}) == "http://lab:8501/"
    params = share.encode("mnist", {**form.DEFAULTS, "latent_dim": 8, "learning_rate": 0.01},
                          default_dataset=DEFAULT_DATASET)
    assert share.link("http://lab:8501/", params) == "http://lab:8501/?dataset=mnist&latent_dim=8&learning_rate=0.01"


def test_numbers_are_read_however_they_are_written() -> None:
    link = share.decode({"learning_rate": "1e-2", "l1_weight": "0.00001", "dropout": "0.2", "batch_norm": "true"})
    assert link.values == {"learning_rate": 0.01, "l1_weight": 1e-5, "dropout": 0.2, "batch_norm": True}
    assert link.problems == ()


@pytest.mark.parametrize(("params", "words"), [
    ({"latent_dim": "7"}, "latent_dim='7' is not offered; allowed values: 1, 2, 3, 4, 8, 16"),
    ({"latent_dim": "eight"}, "latent_dim='eight' is not offered"),
    ({"arch": "transformer"}, "arch='transformer' is not offered; allowed values: dense, deep, conv"),
    ({"learning_rate": "0.5"}, "learning_rate='0.5' is not offered; allowed values: 0.0001, 0.0003"),
    ({"num_epochs": "0"}, "num_epochs='0' is out of range; allowed values: 1 to 1000 in steps of 1"),
    ({"num_epochs": "2.5"}, "num_epochs='2.5' is out of range"),
    ({"dropout": "0.33"}, "dropout='0.33' is out of range; allowed values: 0 to 0.8 in steps of 0.05"),
    ({"beta": "nan"}, "beta='nan' is out of range"),
    ({"seed": "-1"}, "seed='-1' is out of range; allowed values: 0 to 2147483647"),
    ({"batch_norm": "maybe"}, "batch_norm='maybe' is not a switch; allowed values: 1 or 0"),
    ({"dataset": "imagenet"}, "dataset='imagenet' is not offered; allowed values: mnist"),
    ({"present": "please"}, "present='please' is not a switch"),
    ({"lock": "arch,colour"}, "lock='arch,colour' names unknown controls (colour); allowed values: dataset"),
    ({"hide": "speed"}, "hide='speed' names unknown controls (speed)"),
    ({"colour": "red"}, "colour='red' is not a setting of the Train page, so it was ignored"),
])
def test_each_bad_value_is_named_once_and_the_rest_of_the_link_applies(params: dict, words: str) -> None:
    link = share.decode({**params, "batch_size": "64"})  # one good setting beside the bad one
    assert len(link.problems) == 1 and words in link.problems[0], link.problems
    assert link.values == {"batch_size": 64}


def test_a_lock_keeps_the_known_names_of_a_list_with_an_unknown_one_and_page_params_are_not_reported() -> None:
    link = share.decode({"lock": "arch,colour", "run_id": "a" * 32}, ignore=("run_id",))
    assert link.locked == ("arch",) and len(link.problems) == 1


def test_a_qr_code_is_a_square_png() -> None:
    image = Image.open(io.BytesIO(share.qr_png("http://lab:8501/?latent_dim=8&lock=arch")))
    assert image.format == "PNG" and image.width == image.height >= 200


def test_the_projector_enlarges_a_charts_text_lines_and_markers_without_changing_the_original() -> None:
    spec = figures.figure_spec([{"type": "scatter", "mode": "lines+markers", "line": {"width": 3},
                                 "marker": {"size": 8}}], "Loss", "loss-x", xaxis={"title": "epoch"})
    big = figures.for_projector(spec)
    assert big["data"][0]["line"]["width"] > 3 and big["data"][0]["marker"]["size"] > 8
    assert big["layout"]["xaxis"]["title"] == {"text": "epoch", "font": {"size": figures.PROJECTOR_FONT_SIZE}}
    assert big["layout"]["title"]["font"]["size"] == figures.PROJECTOR_TITLE_SIZE
    assert big["layout"]["title"]["text"] == "Loss" and big["layout"]["uirevision"] == "loss-x"
    assert spec["data"][0]["line"]["width"] == 3 and "font" not in spec["layout"]["xaxis"]
