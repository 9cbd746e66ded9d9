"""What an AppTest page drew, read the same way by every page test."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

# app.py's hidden chart that makes the browser load Plotly before the first real one.
PRELOAD_CHART_KEY = "app_plotly_preload_chart"


def charts(app: AppTest) -> dict[str, dict[str, Any]]:
    """Plotly figures on the page, by the key they were drawn with (not app.py's hidden preload chart)."""
    found = {element.proto.id.rsplit("-", 1)[-1]: json.loads(element.proto.spec) for element in app.get("plotly_chart")}
    found.pop(PRELOAD_CHART_KEY, None)
    return found
