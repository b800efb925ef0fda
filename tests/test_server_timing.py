"""The benchmarks' server-side timer (s2s/ui/server_timing.py): a rerun request is timed from its arrival to the
script_finished that ends the runs it caused, with the text it carried; a run cut short for a newer request does
not end it; a fragment's request ends with its fragment's run; other traffic passes through untouched."""

import asyncio
import json

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from s2s.ui.server_timing import RerunTiming


def rerun(text: str, fragment: str = "") -> dict:
    request = BackMsg()
    widget = request.rerun_script.widget_states.widgets.add()
    widget.id, widget.string_value = "source", text
    if fragment:
        request.rerun_script.fragment_id = fragment
    return {"type": "websocket.receive", "bytes": request.SerializeToString()}


def finished(status) -> dict:
    answer = ForwardMsg()
    answer.script_finished = status
    return {"type": "websocket.send", "bytes": answer.SerializeToString()}


def delta() -> dict:
    answer = ForwardMsg()
    answer.delta.new_element.markdown.body = "Predicted [18, 28, 13]"
    return {"type": "websocket.send", "bytes": answer.SerializeToString()}


def serve(tmp_path, conversation: list[tuple[str, dict]], send_seconds: float = 0.0) -> tuple[list[dict], list[dict]]:
    """Play `conversation` ("in": a message the browser sends, "out": one the app sends) through the middleware
    around a fake app whose every send takes `send_seconds`; return the lines it wrote and what reached the
    browser."""
    path = tmp_path / "timing.jsonl"
    incoming = [message for way, message in conversation if way == "in"]
    sent: list[dict] = []

    async def app(scope, receive, send):
        for way, message in conversation:
            if way == "in":
                assert await receive() == message  # passed on untouched
            else:
                await send(message)

    async def receive():
        return incoming.pop(0)

    async def send(message):
        await asyncio.sleep(send_seconds)  # a browser slow to read: the connection's buffer is full
        sent.append(message)

    asyncio.run(RerunTiming(app, str(path))({"type": "websocket"}, receive, send))
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return lines, sent


def test_a_request_is_timed_to_the_end_of_its_run_with_the_text_it_carried(tmp_path):
    conversation = [("in", rerun("13 28 18 7 9 5")), ("out", delta()),
                    ("out", finished(ForwardMsg.FINISHED_SUCCESSFULLY))]
    lines, sent = serve(tmp_path, conversation)
    assert [line["texts"] for line in lines] == [["13 28 18 7 9 5"]]
    assert lines[0]["finished"] >= lines[0]["received"] and 0 <= lines[0]["in_send"] <= lines[0]["seconds"]
    assert sent == [message for way, message in conversation if way == "out"]


def test_the_time_spent_waiting_in_send_is_counted_apart(tmp_path):
    lines, _ = serve(tmp_path, [("in", rerun("1 2 3")), ("out", delta()), ("out", delta()),
                                ("out", finished(ForwardMsg.FINISHED_SUCCESSFULLY))], send_seconds=0.05)
    # three sends of 50 ms each while the request waited, the last one the script_finished itself
    assert 0.15 <= lines[0]["in_send"] <= lines[0]["seconds"]


def test_a_run_cut_short_for_a_newer_request_ends_both_with_the_newer_run(tmp_path):
    lines, _ = serve(tmp_path, [("in", rerun("1 2 3 4 5 6")), ("out", delta()),
                                ("in", rerun("7 8 9 1 2 3")),
                                ("out", finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN)),
                                ("out", delta()), ("out", finished(ForwardMsg.FINISHED_SUCCESSFULLY))])
    assert [line["texts"] for line in lines] == [["1 2 3 4 5 6"], ["7 8 9 1 2 3"]]
    assert lines[0]["finished"] == lines[1]["finished"]


def test_a_fragment_request_ends_with_its_fragment_and_a_run_without_a_request_writes_nothing(tmp_path):
    lines, _ = serve(tmp_path, [("out", finished(ForwardMsg.FINISHED_SUCCESSFULLY)),  # the session's first run
                                ("in", rerun("a", fragment="progress")), ("in", rerun("b")),
                                ("out", finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)),
                                ("out", finished(ForwardMsg.FINISHED_SUCCESSFULLY))])
    assert [line["texts"] for line in lines] == [["a"], ["b"]]


def test_http_requests_pass_through_without_a_file(tmp_path):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(RerunTiming(app, str(tmp_path / "timing.jsonl"))({"type": "http"}, None, None))
    assert seen == ["http"] and not (tmp_path / "timing.jsonl").exists()
