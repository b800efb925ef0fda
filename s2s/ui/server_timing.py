"""The server's own part of each rerun a browser asks for, timed in the server, for the benchmarks.

`RerunTiming` is an ASGI middleware that app.py puts in front of Streamlit only when `S2S_SERVER_TIMING` names a
file. On every websocket it reads the messages as they pass: a rerun request (a BackMsg `rerun_script`) is timed
from the moment the server receives it to the moment it sends the `script_finished` that ends the runs it caused
(a run cut short by a newer request, or by the page's own `st.rerun()`, does not end it; a fragment's request ends
with its fragment's run). Each request becomes one JSON line in that file:

    {"received": <time.time()>, "finished": <time.time()>, "seconds": ..., "in_send": ...,
     "texts": [string widget values]}

`in_send` is the part of those seconds spent inside the websocket's send while the request waited: a send waits
when the connection's buffer is full, until the browser reads what was sent before (a browser that is slow to
take its messages in, on cores it shares, makes the server's answer wait there).

The texts are what the request carried in its text boxes (Explore's source, typed), so a benchmark can tell which
line is the request its Enter sent. A page that measures this in the browser also counts the browser's time to
send the request and to take the answer in, which on a machine whose cores the browsers share is most of it."""

from __future__ import annotations

import json
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

SETTING = "S2S_SERVER_TIMING"
MAX_TEXT = 200  # longer text values are left out of a line
_FULL_RUN_ENDS = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)


class RerunTiming:
    """ASGI middleware: one JSON line per rerun request, appended to `path` (see the module docstring)."""

    def __init__(self, app, path: str):
        self.app, self.path = app, path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        # Requests received and not yet answered, oldest first: [received, texts, seconds in send so far], full runs
        # and fragments apart.
        full: list[list] = []
        fragments: list[list] = []

        async def timed_receive():
            message = await receive()
            data = message.get("bytes") if message["type"] == "websocket.receive" else None
            if data:
                request = BackMsg()
                request.ParseFromString(data)
                if request.WhichOneof("type") == "rerun_script":
                    state = request.rerun_script
                    texts = [w.string_value for w in state.widget_states.widgets
                             if w.WhichOneof("value") == "string_value" and len(w.string_value) <= MAX_TEXT]
                    (fragments if state.fragment_id else full).append([time.time(), texts, 0.0])
            return message

        async def timed_send(message):
            started = time.time()
            await send(message)
            for request in full + fragments:
                request[2] += time.time() - started
            data = message.get("bytes") if message["type"] == "websocket.send" else None
            if data and (full or fragments):
                answer = ForwardMsg()
                answer.ParseFromString(data)
                if answer.WhichOneof("type") == "script_finished":
                    status = answer.script_finished
                    if status in _FULL_RUN_ENDS:
                        self._write(full + fragments)  # a full run also redraws every fragment
                        full.clear()
                        fragments.clear()
                    elif status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and fragments:
                        self._write(fragments[:1])
                        del fragments[:1]

        await self.app(scope, timed_receive, timed_send)

    def _write(self, answered: list[list]) -> None:
        finished = time.time()
        with open(self.path, "a", encoding="utf-8") as log:
            log.writelines(json.dumps({"received": received, "finished": finished, "seconds": finished - received,
                                       "in_send": in_send, "texts": texts}) + "\n"
                           for received, texts, in_send in answered)
