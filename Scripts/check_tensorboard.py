#!/usr/bin/env python3
"""Reads Backprop's TensorBoard event files back with the `tensorboard` package (PyPI).

Usage:
  python3 Scripts/check_tensorboard.py LOGDIR            # summary of every tag, as TensorBoard loads it
  python3 Scripts/check_tensorboard.py --fixture         # the committed fixture against its expected values

Two readers are used: tensorboard's raw record loader (event_file_loader.RawEventFileLoader, which
checks the TFRecord CRCs) parsed with tensorboard's own Event proto, and EventAccumulator, the
loader behind TensorBoard's Scalars, Histograms and Graphs tabs. Every value is compared exactly
(float32 scalars, float64 histogram fields, the GraphDef's node names and ops).

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install tensorboard
"""
import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat.proto import event_pb2, graph_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIR = os.path.join(HERE, "..", "Tests", "Fixtures", "tensorboard")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def raw_events(path):
    loader = event_file_loader.RawEventFileLoader(path)
    out = []
    for record in loader.Load():
        e = event_pb2.Event()
        e.ParseFromString(record)
        out.append(e)
    return out


def accumulate(logdir):
    acc = event_accumulator.EventAccumulator(
        logdir, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def summary(logdir):
    acc = accumulate(logdir)
    tags = acc.Tags()
    print("tags:", json.dumps({k: v for k, v in tags.items() if v}, sort_keys=True))
    for tag in tags["scalars"]:
        s = acc.Scalars(tag)
        print(f"scalar {tag}: {len(s)} points, steps {s[0].step}..{s[-1].step}, first {s[0].value!r}, last {s[-1].value!r}")
    for tag in tags["histograms"]:
        h = acc.Histograms(tag)
        last = h[-1].histogram_value
        print(f"histogram {tag}: {len(h)} steps, last: n={last.num} min={last.min} max={last.max} buckets={len(last.bucket)}")
    if tags.get("graph"):
        g = acc.Graph()
        ops = sorted({n.op for n in g.node})
        print(f"graph: {len(g.node)} nodes, ops: {', '.join(ops)}")
    return acc


def check_fixture():
    expected = json.load(open(os.path.join(FIXTURE_DIR, "expected.json")))
    paths = glob.glob(os.path.join(FIXTURE_DIR, "events.out.tfevents.*"))
    assert len(paths) == 1, paths
    events = raw_events(paths[0])
    assert events[0].file_version == "brain.Event:2", events[0]
    failures = 0

    def check(what, got, want):
        nonlocal failures
        ok = got == want
        failures += not ok
        print(("ok   " if ok else "FAIL ") + f"{what}: {got!r}" + ("" if ok else f" (expected {want!r})"))

    # Raw records: every event's wall time, step and values, exactly.
    check("event count", len(events), expected["eventCount"])
    for e in events:
        check(f"wall time of step {e.step}", e.wall_time, expected["wallTime"])
    scalars = [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value if v.HasField("simple_value")]
    check("scalars", scalars, [(s["step"], s["tag"], f32(s["value"])) for s in expected["scalars"]])
    histos = [(e.step, v.tag, v.histo) for e in events for v in e.summary.value if v.HasField("histo")]
    for (step, tag, h), want in zip(histos, expected["histograms"]):
        check(f"histogram {tag} step {step}",
              (step, tag, h.min, h.max, h.num, h.sum, h.sum_squares, list(h.bucket_limit), list(h.bucket)),
              (want["step"], want["tag"], want["min"], want["max"], want["count"], want["sum"], want["sumOfSquares"],
               want["bucketLimits"], want["bucketCounts"]))
    graphs = [e.graph_def for e in events if e.graph_def]
    check("graph events", len(graphs), 1)
    g = graph_pb2.GraphDef()
    g.ParseFromString(graphs[0])
    check("graph nodes", [(n.name, n.op) for n in g.node], [tuple(x) for x in expected["graphNodes"]])

    # EventAccumulator: what TensorBoard's tabs show.
    acc = accumulate(FIXTURE_DIR)
    for tag in sorted({s["tag"] for s in expected["scalars"]}):
        want = [(s["step"], f32(s["value"])) for s in expected["scalars"] if s["tag"] == tag]
        check(f"EventAccumulator scalars {tag}", [(s.step, s.value) for s in acc.Scalars(tag)], want)
    for tag in sorted({h["tag"] for h in expected["histograms"]}):
        want = [(h["step"], h["count"], h["bucketCounts"]) for h in expected["histograms"] if h["tag"] == tag]
        got = [(h.step, h.histogram_value.num, list(h.histogram_value.bucket)) for h in acc.Histograms(tag)]
        check(f"EventAccumulator histograms {tag}", got, want)
    check("EventAccumulator graph nodes", [(n.name, n.op) for n in acc.Graph().node], [tuple(x) for x in expected["graphNodes"]])
    print(f"{failures} failed")
    return failures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fixture":
        sys.exit(1 if check_fixture() else 0)
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    summary(sys.argv[1])
