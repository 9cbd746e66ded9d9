"""A lightweight Streamlit client: one browser tab's websocket session, without a browser.

It speaks Streamlit 1.67's protocol as the frontend does (``static/js/index.*.js``), so a
benchmark can put tens of "students" on one server for the price of a few protobuf parses:

- it opens ``ws://host:port/_stcore/stream`` with the ``streamlit`` subprotocol (after the
  ``/_stcore/health`` and ``/_stcore/host-config`` requests a page makes first), and sends a
  ``BackMsg.rerun_script`` with the page's query string and its URL path as ``page_name``
  (the frontend sends the page's script hash instead once the server has told it);
- it reads every ``ForwardMsg``: the deltas build an element tree keyed by ``delta_path``,
  whose widgets' current values it keeps, as the frontend's widget manager does (the value
  the server set, else the widget's default); ``page_info_changed`` updates the query string
  (``st.query_params`` writes), ``new_session``/``navigation`` the page's script hash;
  cacheable messages go into a message cache whose hashes each rerun reports, and
  ``ref_hash`` messages are read from it (entries expire after ``max_cached_message_age``
  script runs, as in the frontend);
- a button click (``click(key)``) sends every widget's value plus ``trigger_value`` for the
  button, as ``WidgetStateManager.setTriggerValue`` does;
- ``auto_rerun`` messages (a fragment's ``run_every``) start a timer per fragment that sends a
  rerun with that ``fragment_id`` and ``is_auto_rerun`` at that interval, replaced when the
  interval changes, stopped by ``stop_auto_rerun`` and cleared at each full app run's
  ``new_session``, which is what the frontend's ``handleAutoRerun`` does.

What it does not do: draw anything, run components' JavaScript (so ``st.html`` scripts and
cookies never happen: every session is a new browser), upload files, or send the values of
widgets it cannot serialise (plots' selections, tabs, data editors); the server then keeps
its own value for those, which is what it holds anyway when nobody touches them.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

FINISHED = ForwardMsg.ScriptFinishedStatus
_CLEAN_FINISH = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


def widget_value(element: Element) -> WidgetState | None:
    """The value the frontend holds for a widget element it has just received, or None.

    A widget whose proto has ``set_value`` shows the value the script set (``st.session_state``
    or a widget's key); otherwise its default. Buttons have no value (only a trigger on click).
    """
    kind = element.WhichOneof("type")
    proto = getattr(element, kind, None) if kind else None
    if proto is None or not getattr(proto, "id", ""):
        return None
    state = WidgetState(id=proto.id)
    if kind == "checkbox":  # st.checkbox and st.toggle
        state.bool_value = proto.value if proto.set_value else proto.default
    elif kind == "number_input":
        if proto.set_value and proto.HasField("value"):
            number = proto.value
        elif proto.HasField("default"):
            number = proto.default
        else:
            return None
        if proto.data_type == NumberInput.INT:
            state.int_value = int(number)
        else:
            state.double_value = number
    elif kind == "slider":
        if proto.type == Slider.SELECT_SLIDER:
            values = list(proto.raw_value) if proto.set_value else [proto.options[int(i)] for i in proto.default]
            state.string_array_value.data.extend(values)
        else:
            state.double_array_value.data.extend(proto.value if proto.set_value else proto.default)
    elif kind in ("selectbox", "radio"):
        if proto.set_value and proto.HasField("raw_value"):
            state.string_value = proto.raw_value
        elif proto.HasField("default") and 0 <= proto.default < len(proto.options):
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "multiselect":
        values = list(proto.raw_values) if proto.set_value else [proto.options[i] for i in proto.default]
        state.string_array_value.data.extend(values)
    elif kind == "button_group":  # st.segmented_control, st.pills, st.feedback
        if proto.set_value:
            values = list(proto.raw_values)
        else:
            values = [proto.options[i].content for i in proto.default if 0 <= i < len(proto.options)]
        state.string_array_value.data.extend(values)
    elif kind in ("text_input", "text_area"):
        if proto.set_value and proto.HasField("value"):
            state.string_value = proto.value
        elif proto.HasField("default"):
            state.string_value = proto.default
        else:
            return None
    else:
        return None
    return state


@dataclass
class _Node:
    kind: str  # "element" or "block"
    type: str  # the element's or block's type, e.g. "button", "plotly_chart", "vertical"
    run_id: str
    fragment_id: str
    widget_id: str | None = None


@dataclass
class _Cached:
    payload: bytes
    run_count: int
    fragment_id: str


@dataclass
class SessionStats:
    """What one session sent and received, for a benchmark's totals."""

    messages: int = 0
    bytes_received: int = 0
    reruns_sent: int = 0
    auto_reruns_sent: int = 0
    script_runs_finished: int = 0
    fragment_runs_finished: int = 0
    # Seconds from a rerun request to the script_finished that answered it (coalesced
    # requests share one answer), for auto reruns and for the others.
    auto_rerun_latency: list[float] = field(default_factory=list)
    rerun_latency: list[float] = field(default_factory=list)
    # Interval (s) -> auto reruns sent at it: how fast the server asked this page to poll.
    auto_reruns_by_interval: collections.Counter = field(default_factory=collections.Counter)


class StreamlitSession:
    """One tab of a Streamlit app, over its websocket.

    Args:
        base_url: the server, ``http://host:port``.
        path: the page's URL path (``""`` for the default page, ``"explore"``).
        query: the page's query string, without ``?``.
        on_message: called with each ``ForwardMsg`` after the session has handled it.

    Use ``await session.open()``, then ``wait_until``/``click``; ``await session.close()``.
    """

    def __init__(self, base_url: str, path: str = "", query: str = "", *,
                 on_message: Callable[[ForwardMsg], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_name = path.strip("/")
        self.query_string = query.lstrip("?")
        self.on_message = on_message
        self.stats = SessionStats()
        self.page_script_hash = ""
        self.session_id = ""
        self.max_cached_message_age = 2
        self.script_run_id = ""
        self.fragment_ids_this_run: tuple[str, ...] = ()
        self.running = False
        self.last_finish: int | None = None
        self.finished_at: float | None = None
        self.exceptions: list[str] = []  # st.exception / uncaught errors drawn on the page
        self.errors: list[str] = []  # st.error boxes
        self.page_not_found = False
        self.closed_reason: str | None = None
        self._nodes: dict[tuple[int, ...], _Node] = {}
        self._widgets: dict[str, WidgetState] = {}
        self._cache: dict[str, _Cached] = {}
        self._run_count = 0
        self._received_new_session = False
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}
        self._pending: list[tuple[float, bool]] = []  # (sent at, is auto rerun)
        self._changed = asyncio.Event()
        self._ws: Any = None
        self._reader: asyncio.Task | None = None

    # -- connecting --------------------------------------------------------------------
    async def open(self, *, timeout: float = 60.0) -> None:
        """Do what a page load does: the two HTTP requests, the websocket, the first rerun."""
        loop = asyncio.get_running_loop()
        for endpoint in ("/_stcore/health", "/_stcore/host-config"):
            await loop.run_in_executor(None, _get, self.base_url + endpoint, timeout)
        ws_url = "ws" + self.base_url[len("http"):] + "/_stcore/stream"
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit"], origin=self.base_url,
                                            max_size=None, ping_interval=None, open_timeout=timeout)
        self._reader = asyncio.create_task(self._read(), name=f"st-read-{id(self)}")
        await self._send_rerun(WidgetStates())

    async def close(self) -> None:
        for _, task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

    @property
    def url(self) -> str:
        path = f"/{self.page_name}" if self.page_name else "/"
        return self.base_url + path + (f"?{self.query_string}" if self.query_string else "")

    @property
    def query_params(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.query_string))

    @property
    def auto_reruns(self) -> dict[str, float]:
        """Fragment id -> interval in seconds, of the timers running now."""
        return {fragment: interval for fragment, (interval, _) in self._timers.items()}

    # -- what the page holds -----------------------------------------------------------
    def widget_id(self, key: str) -> str | None:
        """The id of the widget with user key ``key`` on the page now (ids end with ``-<key>``)."""
        for node in self._nodes.values():
            if node.widget_id and node.widget_id.endswith(f"-{key}"):
                return node.widget_id
        return None

    def count(self, element_type: str) -> int:
        """How many elements of a type (``"plotly_chart"``, ``"exception"``) the page holds now."""
        return sum(node.type == element_type for node in self._nodes.values())

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds after some message (True), or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed_reason is not None:
                return predicate()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass
        return True

    async def wait_script_finished(self, timeout: float) -> bool:
        """Wait for the current run to finish (a full or fragment run; True if it did in time)."""
        return await self.wait_until(lambda: not self.running and self.last_finish is not None, timeout)

    # -- acting --------------------------------------------------------------------------
    async def click(self, key: str) -> float:
        """Press the button with user key ``key``; returns ``time.time()`` when the click was sent.

        Raises:
            LookupError: if the page holds no widget with that key.
        """
        widget = self.widget_id(key)
        if widget is None:
            raise LookupError(f"no widget with key {key!r} on the page")
        states = self._widget_states()
        states.widgets.append(WidgetState(id=widget, trigger_value=True))
        clicked = time.time()
        await self._send_rerun(states)
        return clicked

    def _widget_states(self) -> WidgetStates:
        states = WidgetStates()
        for state in self._widgets.values():
            states.widgets.append(state)
        return states

    async def _send_rerun(self, states: WidgetStates, fragment_id: str = "", *, auto: bool = False) -> None:
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = self.query_string
        rerun.widget_states.CopyFrom(states)
        if self.page_script_hash:
            rerun.page_script_hash = self.page_script_hash
        else:
            rerun.page_name = self.page_name
        rerun.fragment_id = fragment_id
        rerun.is_auto_rerun = auto
        rerun.cached_message_hashes.extend(self._cache)
        context = rerun.context_info
        context.timezone, context.timezone_offset, context.locale = "UTC", 0, "en-US"
        context.url, context.is_embedded, context.color_scheme = self.url, False, "light"
        self._received_new_session = False
        self._pending.append((time.perf_counter(), auto))
        self.stats.reruns_sent += 1
        self.stats.auto_reruns_sent += auto
        await self._ws.send(msg.SerializeToString())

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        """setInterval(() => sendUpdateWidgetsMessage(fragmentId, true), interval)."""
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            try:
                await self._send_rerun(self._widget_states(), fragment_id, auto=True)
            except websockets.ConnectionClosed:
                return
            self.stats.auto_reruns_by_interval[interval] += 1

    def _cancel_timer(self, fragment_id: str) -> None:
        entry = self._timers.pop(fragment_id, None)
        if entry is not None:
            entry[1].cancel()

    # -- reading ---------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for payload in self._ws:
                if isinstance(payload, str):
                    continue
                msg = ForwardMsg()
                msg.ParseFromString(payload)
                self.stats.messages += 1
                self.stats.bytes_received += len(payload)
                self._handle(msg, payload)
                if self.on_message is not None:
                    self.on_message(msg)
                self._changed.set()
        except websockets.ConnectionClosed as closed:
            self.closed_reason = f"closed: {closed}"
        except Exception as error:  # noqa: BLE001 - kept for the benchmark to report
            self.closed_reason = f"{type(error).__name__}: {error}"
        finally:
            if self.closed_reason is None:
                self.closed_reason = "closed"
            for _, task in self._timers.values():
                task.cancel()
            self._changed.set()

    def _handle(self, msg: ForwardMsg, payload: bytes) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                self.exceptions.append(f"cached ForwardMsg miss {msg.ref_hash}")
                return
            cached.run_count = self._run_count
            metadata = ForwardMsg()
            metadata.metadata.CopyFrom(msg.metadata)
            msg = ForwardMsg()
            msg.ParseFromString(cached.payload)
            msg.metadata.CopyFrom(metadata.metadata)
            kind = msg.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash and msg.hash not in self._cache:
            fragment = msg.delta.fragment_id if kind == "delta" else ""
            self._cache[msg.hash] = _Cached(payload, self._run_count, fragment)
        if kind == "new_session":
            self._new_session(msg)
        elif kind == "delta":
            self._delta(msg)
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "navigation":
            if msg.navigation.page_script_hash:
                self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "auto_rerun":
            fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fragment and interval > 0 and self._timers.get(fragment, (None,))[0] != interval:
                self._cancel_timer(fragment)
                self._timers[fragment] = (interval, asyncio.create_task(self._auto_rerun(fragment, interval)))
        elif kind == "stop_auto_rerun":
            for fragment in msg.stop_auto_rerun.fragment_ids:
                self._cancel_timer(fragment)
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "script_finished":
            self._script_finished(msg)
        elif kind == "page_not_found":
            self.page_not_found = True

    def _new_session(self, msg: ForwardMsg) -> None:
        session = msg.new_session
        self.running = True
        self._received_new_session = True
        if session.page_script_hash:
            self.page_script_hash = session.page_script_hash
        if session.initialize.session_id:
            self.session_id = session.initialize.session_id
        if session.config.max_cached_message_age:
            self.max_cached_message_age = session.config.max_cached_message_age
        self.script_run_id = msg.metadata.run.script_run_id
        self.fragment_ids_this_run = tuple(msg.metadata.run.fragment_ids)
        if not self.fragment_ids_this_run:
            for fragment in list(self._timers):  # cleanupAutoReruns()
                self._cancel_timer(fragment)

    def _delta(self, msg: ForwardMsg) -> None:
        delta, path = msg.delta, tuple(msg.metadata.delta_path)
        which = delta.WhichOneof("type")
        if which == "new_element":
            element = delta.new_element
            element_type = element.WhichOneof("type") or ""
            state = widget_value(element)
            widget = getattr(getattr(element, element_type, None), "id", "") or None if element_type else None
            if element_type == "exception":
                self.exceptions.append(f"{element.exception.type}: {element.exception.message}")
            elif element_type == "alert" and element.alert.format == element.alert.ERROR:
                self.errors.append(element.alert.body)
            if state is not None and (state.id not in self._widgets or _server_set(element, element_type)):
                self._widgets[state.id] = state
            self._nodes[path] = _Node("element", element_type, self.script_run_id, delta.fragment_id,
                                      widget if isinstance(widget, str) else None)
        elif which == "add_block":
            self._nodes[path] = _Node("block", delta.add_block.WhichOneof("type") or "", self.script_run_id,
                                      delta.fragment_id)

    def _script_finished(self, msg: ForwardMsg) -> None:
        status = msg.script_finished
        now = time.perf_counter()
        fragments = tuple(msg.metadata.run.fragment_ids) or self.fragment_ids_this_run
        if status in _CLEAN_FINISH:
            run_id = msg.metadata.run.script_run_id or self.script_run_id
            # clearStaleNodes(scriptRunId, fragmentIds), then removeInactiveWidgetState().
            stale = [path for path, node in self._nodes.items() if node.run_id != run_id
                     and (not fragments or node.fragment_id in fragments)]
            for path in stale:
                del self._nodes[path]
            live = {node.widget_id for node in self._nodes.values() if node.widget_id}
            for widget in [w for w in self._widgets if w not in live]:
                del self._widgets[widget]
        if status != FINISHED.FINISHED_EARLY_FOR_RERUN and self._received_new_session:
            self._run_count += 1
            for hash_, cached in list(self._cache.items()):
                if fragments and cached.fragment_id not in fragments:
                    continue
                if self._run_count - cached.run_count > self.max_cached_message_age:
                    del self._cache[hash_]
        if status != FINISHED.FINISHED_EARLY_FOR_RERUN:
            for sent, auto in self._pending:
                (self.stats.auto_rerun_latency if auto else self.stats.rerun_latency).append(now - sent)
            self._pending.clear()
            if fragments:
                self.stats.fragment_runs_finished += 1
            else:
                self.stats.script_runs_finished += 1
        self.running = False
        self.last_finish = status
        self.finished_at = time.time()


def _server_set(element: Element, element_type: str) -> bool:
    return bool(getattr(getattr(element, element_type), "set_value", False))


def _get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def host_config(base_url: str) -> dict[str, Any]:
    """The server's ``/_stcore/host-config`` answer (what a page asks before its websocket)."""
    return json.loads(_get(base_url.rstrip("/") + "/_stcore/host-config", 10.0))
