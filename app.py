"""Autoencoder Lab: the page script, served by `streamlit run serve.py` (or `streamlit run app.py`).

This script sets the page up, makes sure the job manager (started with the server by
`serve.py`, once per process) is running, and hands over to the page the
person chose through ``st.navigation``. The pages hold the UI only; tests
swap the manager for a fake with ``ae_lab_ui.services.inject_manager``.
"""

from __future__ import annotations

import logging

import streamlit as st

from ae_lab_ui.icon import page_icon
from ae_lab_ui.link_state import presenting
from ae_lab_ui.identity import remember_browser
from ae_lab_ui.services import friendly_message, get_manager

_PAGE_RUN_SEEN = "app_page_run_seen"

st.set_page_config(page_title="Autoencoder Lab", page_icon=page_icon(), layout="wide",
                   initial_sidebar_state="auto")

# - Small digits are drawn a few pixels wide; keep them crisp when the browser scales them
#   up for a projector.
# - At 1280x720 (a projector) the default top padding and metric font push the loss chart
#   and the reconstructions below the fold, and "Finished" no longer fits its tile.
# - The preload chart is hidden (drawn after the page: see the end of this script).
st.html("""<style>
[data-testid='stImage'] img { image-rendering: pixelated; }
[data-testid='stMainBlockContainer'] { padding-top: 3.5rem; padding-bottom: 2rem; }
[data-testid='stMetricValue'] { font-size: 1.6rem; }
.st-key-app_plotly_preload { display: none; }
/* On a phone Streamlit stacks columns, and a run's five status tiles alone filled the
   screen: two tiles a row there keep the loss curve in view after Train. */
@media (max-width: 640px) {
  [data-testid='stHorizontalBlock']:has(> [data-testid='stColumn'] [data-testid='stMetric']) {
    flex-flow: row wrap; gap: 0.5rem; }
  [data-testid='stHorizontalBlock']:has(> [data-testid='stColumn'] [data-testid='stMetric']) > [data-testid='stColumn'] {
    min-width: calc(50% - 0.25rem) !important; flex: 1 1 calc(50% - 0.25rem) !important; }
  [data-testid='stMetricValue'] { font-size: 1.25rem; }
}
</style>""")
try:
    get_manager()
except Exception as error:  # noqa: BLE001 - a page must say what is wrong, not show a traceback
    logging.getLogger("ae_lab_ui").exception("the job manager could not start")
    st.title("Autoencoder Lab")
    st.error("The training service could not start, so nothing can be trained right now. "
             f"{friendly_message(error)}", icon=":material/error:")
    st.stop()
# Saved runs can still be read when no run can train (a Ray cluster that is down): say so on every page.
if (problem := get_manager().problem()) is not None:
    st.error(problem, icon=":material/cloud_off:")

# The default page is served at "/" whatever its url_path, so "/train?run_id=..." (a link
# someone typed or shared) would be "Page not found": a hidden page there forwards to "/",
# keeping the query string.
train_page = st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train_page",
                     default=True)
train_alias = st.Page(lambda: st.switch_page(train_page, query_params=st.query_params.to_dict()), title="Train",
                      url_path="train", visibility="hidden")
lessons_page = st.Page("app_pages/lessons.py", title="Lessons", icon=":material/quiz:", url_path="lessons")
runs_page = st.Page("app_pages/runs.py", title="Runs", icon=":material/history:", url_path="runs")
explore_page = st.Page("app_pages/explore.py", title="Explore", icon=":material/travel_explore:", url_path="explore")
compare_page = st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare")
classify_page = st.Page("app_pages/classify.py", title="Classify", icon=":material/category:", url_path="classify")
# The Teacher page is always there: its Lesson link builder serves a single-user lab too; the
# class's key and limits on it show only in a class.
teacher_page = st.Page("app_pages/teacher.py", title="Teacher", icon=":material/school:", url_path="teacher")
pages = [train_page, lessons_page, runs_page, explore_page, compare_page, classify_page, teacher_page, train_alias]
remember_browser()  # which student this browser is, kept across reloads (a class only)
st.navigation(pages, position="top").run()
# The presenter view (a present=1 link or the Train page's toggle), for a projector at 1280x720:
# bigger text and metric digits in the page; the charts enlarge themselves (views.plot). Drawn
# after the page, which has just read the flag. Not reached after a page's st.stop().
if presenting():
    st.html("""<style>
[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }
[data-testid='stMainBlockContainer'] [data-testid='stMarkdown'] p,
[data-testid='stMainBlockContainer'] [data-testid='stMarkdown'] li,
[data-testid='stMainBlockContainer'] [data-testid='stText'] { font-size: 1.3rem; }
[data-testid='stMainBlockContainer'] [data-testid='stProgress'] p { font-size: 1.2rem; }
[data-testid='stMainBlockContainer'] [data-testid='stCaptionContainer'] { font-size: 1.1rem; }
[data-testid='stMetricValue'], [data-testid='stMetricValue'] div { font-size: 1.9rem; }
[data-testid='stMetricLabel'] p { font-size: 1.15rem; }
[data-testid='stSidebar'] [data-testid='stWidgetLabel'] p { font-size: 1.1rem; }
[data-testid='stImageCaption'] { font-size: 1.1rem; }
</style>""")
# Plotly's script (3 MB) loads with the first chart a page draws, which on a fresh page kept
# the first loss curve behind a grey skeleton for seconds. A hidden chart loads it ahead, from
# this browser session's second run on (a click, say Train): drawn in the first, its parsing
# (0.7 s of the browser's main thread) kept a fresh browser's Train button from showing until
# 2.3 s after the page was asked for, instead of 1.5 s.
if st.session_state.get(_PAGE_RUN_SEEN):
    with st.container(key="app_plotly_preload"):
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}},
                        key="app_plotly_preload_chart")
st.session_state[_PAGE_RUN_SEEN] = True
