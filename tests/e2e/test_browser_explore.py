"""Real-browser paths through the Explore, Compare and Classify pages.

Two tiny runs are trained through the real job service first; then the app is started
over the same store (history survives restarts) and Chromium opens each page: the
latent map is clicked and decodes that spot, two runs are compared, and the probes of a
run are tabled. Each page is saved as a screenshot (see the ``screenshots`` fixture).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from tests.e2e.server import expect, streamlit_app, tail
from tests.e2e.test_browser import no_exception, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def tiny(arch: str, latent_dim: int, num_epochs: int) -> TrainConfig:
    return TrainConfig(dataset="mnist_sample", model=ModelConfig(arch=arch, latent_dim=latent_dim),
                       num_epochs=num_epochs, batch_size=64, train_limit=2000)


@pytest.fixture(scope="module")
def finished_app(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The app's URL over a store holding two finished runs (a 2-d VAE, an 8-d dense), and their ids."""
    from ae_core.service.jobs import JobManager

    folder = tmp_path_factory.mktemp("e2e_explore")
    home = folder / "home"
    with JobManager(home=home, max_concurrent=1, warm_workers=1, warmup=False) as manager:
        run_ids = [manager.submit(tiny("vae", 2, 12)), manager.submit(tiny("dense", 8, 4))]
        deadline = time.monotonic() + 240
        while any(manager.get_run(run_id).status.is_active for run_id in run_ids) and time.monotonic() < deadline:
            time.sleep(0.5)
        statuses = [manager.get_run(run_id).status for run_id in run_ids]
    assert statuses == [RunStatus.FINISHED] * 2, statuses
    log_path = folder / "streamlit.log"
    try:
        with streamlit_app(home, log_path) as url:
            yield url, run_ids
    finally:
        print(f"\n--- streamlit log ({log_path}) ---\n{tail(log_path, 60)}")


@pytest.fixture
def tab(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(90_000)
    page = context.new_page()
    yield page
    context.close()


def open_page(page, url: str, path: str) -> None:
    """Open a page by its deep link. The UI lives in app_pages/, not pages/: next to a pages/
    folder, a fresh server asked for a deep link before its entry script has run would serve
    that folder without the app's navigation (Streamlit's legacy page discovery)."""
    page.goto(url + path)


def test_explore_click_on_the_map_decodes_that_spot(tab, finished_app, screenshots: Path) -> None:
    url, (run_2d, _) = finished_app
    open_page(tab, url, f"/explore?run_id={run_2d}")
    tab.get_by_role("heading", name="Explore a trained model").wait_for()
    plot = tab.locator(".st-key-explore_map .js-plotly-plot")
    plot.wait_for()
    tab.get_by_text("Nothing picked yet.").wait_for()
    area = tab.locator(".st-key-explore_map .nsewdrag").first.bounding_box()
    tab.mouse.click(area["x"] + area["width"] * 0.4, area["y"] + area["height"] * 0.6)
    tab.get_by_text("decoded at (").wait_for()
    no_exception(tab)
    screenshot(tab, screenshots / "explore.png")
    # Only the open tab is drawn; a click on another draws it.
    tab.get_by_role("tab", name="Interpolate").click()
    tab.get_by_text("decoded steps along the straight line").wait_for()
    tab.get_by_role("tab", name="Errors").click()
    tab.get_by_text("The 12 worst reconstructions").wait_for()
    no_exception(tab)


def test_compare_draws_two_runs_on_shared_axes(tab, finished_app, screenshots: Path) -> None:
    url, _ = finished_app
    open_page(tab, url, "/compare")
    tab.get_by_role("heading", name="Compare runs").wait_for()
    # Train and validation loss of each run: four lines on one set of axes.
    expect(tab.locator(".st-key-compare_loss .js-plotly-plot .scatterlayer .trace")).to_have_count(4)
    tab.locator(".st-key-compare_latent_2 .js-plotly-plot").wait_for()
    no_exception(tab)
    screenshot(tab, screenshots / "compare.png")


def test_classify_tables_the_two_probes(tab, finished_app, screenshots: Path) -> None:
    url, _ = finished_app
    open_page(tab, url, "/classify")
    tab.get_by_role("heading", name="Do autoencoder codes help classify?").wait_for()
    tab.get_by_text("-number codes score").wait_for()
    tab.locator(".st-key-classify_confusion .js-plotly-plot").wait_for()
    no_exception(tab)
    screenshot(tab, screenshots / "classify.png")


def test_the_sweep_chart_grows_as_its_runs_finish_without_a_reload(tab, finished_app) -> None:
    """Last in this module: it adds the sweep's five runs to the store the other tests read."""
    from tests.e2e.server import COUNT_POINTS_JS

    url, (_, run_8d) = finished_app
    open_page(tab, url, "/compare")
    tab.get_by_role("heading", name="Compare runs").wait_for()
    tab.get_by_role("tab", name="Latent-size sweep").click()
    # The newest run (the 8-d dense one, four epochs on 2,000 digits) gives the sweep its settings.
    expect(tab.get_by_role("combobox", name="Settings from run")).to_have_value(re.compile(run_8d[:6]))
    tab.evaluate("() => { window.__not_reloaded = true; }")
    tab.locator(".st-key-compare_sweep_start button").click()
    tab.get_by_text("Queued latent sizes 2, 4, 16, 32, 64.").wait_for()
    chart = ".st-key-compare_sweep_chart"
    # Only latent size 8 has finished so far; then the points come in one by one, with no reload.
    tab.wait_for_function(f"(selector) => ({COUNT_POINTS_JS})(selector) >= 1", arg=chart, polling=500)
    tab.wait_for_function(f"(selector) => ({COUNT_POINTS_JS})(selector) >= 6", arg=chart, polling=500,
                          timeout=300_000)
    assert tab.evaluate("() => window.__not_reloaded === true")
    no_exception(tab)


def test_a_run_goes_home_as_a_zip_with_its_script_and_its_tensorboard_logs(tab, finished_app, screenshots: Path,
                                                                            tmp_path: Path) -> None:
    import zipfile

    url, (run_2d, _) = finished_app
    open_page(tab, url, f"/runs?run_id={run_2d}")
    tab.get_by_text("Take it with you").first.click()
    command = tab.get_by_text("tensorboard --logdir").first.inner_text()
    logs = Path(command.split("--logdir", 1)[1].strip()) / run_2d / "tensorboard" / "mnist_sample-vae-latent2"
    # Trained by the real workers: their TensorBoard sink wrote the logs and the projector's files.
    assert list(logs.glob("events.out.tfevents.*")) and (logs / "projector_config.pbtxt").is_file()
    with tab.expect_download() as download:
        tab.get_by_role("button", name="Run as .zip").click()
    download.value.save_as(tmp_path / "run.zip")
    with zipfile.ZipFile(tmp_path / "run.zip") as archive:
        names = {name.split("/", 1)[1] for name in archive.namelist()}
    assert {"config.json", "model.keras", f"train_{run_2d[:8]}.py", "metrics.csv", "reconstruction.png"} <= names
    no_exception(tab)
    screenshot(tab, screenshots / "runs_take_it_with_you.png")
