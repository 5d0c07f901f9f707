"""Recordings: written with the recorder, read by the third-party mcap reader (peer check)
and by our reader/player; hostile and truncated files are refused or recovered clearly."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import Writer

from edgeconsole.core.errors import JournalError
from edgeconsole.core.frames import Frame
from edgeconsole.journal.recorder import McapRecorderSink
from edgeconsole.journal.replay import RecordingReader, ReplayFrameSource, ReplaySource
from tests.fixtures.journal import latency_for, result_for

FOXGLOVE = {"/camera": "foxglove.CompressedImage", "/overlay": "foxglove.ImageAnnotations"}


def test_mcap_peer_reads_every_message_with_schemas(make_recording) -> None:
    path = make_recording(frames=30)
    with open(path, "rb") as fh:
        reader = make_reader(fh, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count > 0
        assert summary.statistics.chunk_count >= 2  # small chunks
        seen: dict[str, int] = {}
        for schema, channel, msg in reader.iter_messages():
            assert schema is not None and schema.encoding == "jsonschema"
            assert channel.message_encoding == "json"
            json.loads(schema.data)  # the schema itself is valid JSON Schema text
            payload = json.loads(msg.data)
            if channel.topic in FOXGLOVE:
                assert schema.name == FOXGLOVE[channel.topic]
            if channel.topic == "/camera":
                assert payload["format"] == "jpeg"
                assert base64.b64decode(payload["data"])[:2] == b"\xff\xd8"  # JPEG SOI
                assert set(payload["timestamp"]) == {"sec", "nsec"}
            if channel.topic == "/overlay":
                assert set(payload) == {"circles", "points", "texts"}
                assert payload["points"][0]["type"] == 2
            seen[channel.topic] = seen.get(channel.topic, 0) + 1
        assert seen["/camera"] == 30 and seen["/results"] == 30 and seen["/latency"] == 30
        assert seen["/telemetry"] == 30
        meta = {m.name: m.metadata for m in reader.iter_metadata()}["edgeconsole.recording"]
        assert meta["site"] == "Plant 4" and meta["bundle_version"] == "3"
        assert meta["bundle_hash"] == "ab" * 32
        atts = {a.name: a for a in reader.iter_attachments()}
        assert json.loads(atts["manifest.json"].data)["bundle_id"] == "label-inspector"


def test_reader_returns_the_same_results_and_overlays(make_recording) -> None:
    path = make_recording(frames=12)
    with RecordingReader(path) as rd:
        assert rd.info.frames == 12 and rd.info.problem is None
        results = [i.result for i in rd.items(topics=("/results",))]
        lat = [i.latency for i in rd.items(topics=("/latency",))]
        frames = [i.frame for i in rd.items(topics=("/camera",))]
    assert results == [result_for(i) for i in range(12)]
    assert lat == [latency_for(i) for i in range(12)]
    assert frames[0].image.shape == (180, 320, 3) and frames[5].index == 5


def test_player_play_pause_seek_speed(make_recording) -> None:
    path = make_recording(frames=30)
    clock = [0]
    with RecordingReader(path) as rd:
        pl = ReplaySource(rd, clock=lambda: clock[0])
        first = pl.poll()  # paused: shows the first frame
        assert first.frame.index == 0 and first.result.frame_index == 0 and not first.playing
        assert pl.poll().frame is None  # nothing new while paused
        pl.play()
        clock[0] += 100_000_000  # 0.1 s -> frames up to index 3
        b = pl.poll()
        assert b.frame.index == 3 and b.skipped_frames == 2 and len(b.latency) == 3
        assert b.telemetry and b.telemetry[-1][2]["ax"] == 3.0
        pl.pause()
        clock[0] += 10**9
        assert pl.poll().frame is None
        pl.seek_fraction(0.5)
        b = pl.poll()
        assert 13 <= b.frame.index <= 16 and b.result.frame_index == b.frame.index
        pl.set_speed(4.0)
        pl.play()
        clock[0] += 10**9  # 4 s of recording at 4x: runs off the end
        b = pl.poll()
        assert b.frame.index == 29 and b.ended and not b.playing
        pl.play()  # play after the end starts over
        clock[0] += 1
        assert pl.poll().frame.index == 0
        with pytest.raises(ValueError):
            pl.set_speed(0)


def test_replay_frame_source_feeds_a_pipeline(make_recording) -> None:
    path = make_recording(frames=10)
    src = ReplayFrameSource(path, realtime=False)
    src.open()
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    assert [f.index for f in frames] == list(range(10))
    assert src.nominal_fps and 25 < src.nominal_fps < 40


def test_recording_survives_a_reconnect(tmp_path: Path) -> None:
    rec = McapRecorderSink(tmp_path / "r.mcap", chunk_seconds=0.05)
    rec.start()
    img = np.zeros((48, 64, 3), np.uint8)
    for i in range(5):
        rec.write_frame(Frame(i, img, 10**9 + i * 10**7, "serial"), result_for(i), latency_for(i))
    rec.write_event("warning", "device disconnected; reconnecting", "source", "serial:///dev/x")
    rec.write_event("info", "device reconnected", "source", "serial:///dev/x")
    for i in range(5, 10):
        rec.write_frame(Frame(i, img, 10**9 + i * 10**7, "serial"), result_for(i), latency_for(i))
    stats = rec.stop()
    assert stats.frames == 10 and stats.dropped == 0
    with RecordingReader(tmp_path / "r.mcap") as rd:
        events = [i.data["text"] for i in rd.items(topics=("/events",))]
        assert events == ["device disconnected; reconnecting", "device reconnected"]
        assert rd.info.frames == 10


def test_writer_behind_drops_frames_and_counts(tmp_path: Path) -> None:
    rec = McapRecorderSink(tmp_path / "r.mcap", frame_queue=2)
    rec.start()
    rec._q.put(("stop", 0, None))  # writer ends: nothing drains
    rec._thread.join(5)
    img = np.zeros((8, 8, 3), np.uint8)
    ok = [rec.write_frame(Frame(i, img, i, "x")) for i in range(5)]
    assert ok == [True, True, False, False, False] and rec.stats.dropped == 3
    rec._thread = None


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    p = tmp_path / "r.mcap"
    p.write_bytes(b"precious")
    with pytest.raises(JournalError, match="already exists"):
        McapRecorderSink(p).start()
    assert p.read_bytes() == b"precious"


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9])
def test_truncated_recording_is_recovered_up_to_last_chunk(
    make_recording, tmp_path: Path, cut: float
) -> None:
    path = make_recording(frames=40)
    data = path.read_bytes()
    cutp = tmp_path / "cut.mcap"
    cutp.write_bytes(data[: int(len(data) * cut)])
    with RecordingReader(cutp) as rd:
        assert rd.info.recovered_from == cutp and "cut short" in rd.info.problem
        n = rd.info.frames
        assert 0 < n < 40
        frames = [i.frame.index for i in rd.items(topics=("/camera",))]
        assert frames == list(range(n))  # a prefix, in order, nothing invented
        # The recovered copy is a whole MCAP the peer reader accepts.
        with open(rd.path, "rb") as fh:
            assert make_reader(fh).get_summary() is not None


@pytest.mark.parametrize(
    "content",
    [b"", b"not an mcap file at all", b"\x89MCAP0\r\n" + b"\xff" * 64, b"\x89MCAP0\r\n"],
)
def test_hostile_files_are_refused_or_empty(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.mcap"
    p.write_bytes(content)
    try:
        rd = RecordingReader(p)
    except JournalError as exc:
        assert str(p) in str(exc)
        return
    with rd:
        assert rd.info.frames == 0 and rd.info.problem is not None
        assert list(rd.items()) == []


def _forged(tmp_path: Path, topic: str, payload: bytes) -> Path:
    p = tmp_path / "forged.mcap"
    with open(p, "wb") as fh:
        w = Writer(fh)
        w.start()
        sid = w.register_schema("x", "jsonschema", b"{}")
        cid = w.register_channel(topic, "json", sid)
        w.add_message(cid, 1, payload, 1)
        w.finish()
    return p


@pytest.mark.parametrize(
    "topic, payload, match",
    [
        ("/camera", b"{not json", "not JSON"),
        ("/camera", b"[]", "not an object"),
        ("/camera", b'{"data": "!!!notbase64", "format": "jpeg"}', "base64"),
        (
            "/camera",
            b'{"data": "' + base64.b64encode(b"GIF89a....") + b'", "format": "jpeg"}',
            "cannot be decoded",
        ),
        ("/results", b'{"frame_index": "x"}', "frame_index"),
        (
            "/results",
            b'{"frame_index": 1, "overlay": [{"type": "box", "box": [1,2,3], "role": "ok"}]}',
            "four numbers",
        ),
        (
            "/results",
            b'{"frame_index": 1, "overlay": [{"type": "box", "box": [1,2,3,4], "role": "evil"}]}',
            "role",
        ),
        ("/latency", b'{"frame_index": 1, "stages": {"infer": "slow"}}', "not a number"),
    ],
)
def test_malformed_messages_raise_clear_errors(
    tmp_path: Path, topic: str, payload: bytes, match: str
) -> None:
    p = _forged(tmp_path, topic, payload)
    with RecordingReader(p) as rd, pytest.raises(JournalError, match=match):
        list(rd.items())


def test_foreign_channels_are_skipped(tmp_path: Path) -> None:
    p = _forged(tmp_path, "/someone_else", b"\x00\x01binary")
    with RecordingReader(p) as rd:
        assert list(rd.items()) == []
