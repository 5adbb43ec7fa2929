#!/usr/bin/env python3
"""GraphDef round trips between Backprop and TensorFlow (tf.compat.v1, tensorflow-cpu from PyPI).

  python3 Scripts/tf_graphdef.py export-notebook
      Builds the notebook's two graphs with TensorFlow itself (the seed notebook's code: placeholders
      x_data and y_target of shape [1], A = tf.Variable(tf.random_normal(...)), the L2 loss
      square(x*A - y) and the sigmoid cross-entropy of expand_dims(x + A, 0)), and writes their
      as_graph_def() to Tests/Fixtures/graphdef/tf_regression.pb and tf_classification.pb, which
      `swift test` imports with Graph(graphDef:) and trains with Backprop's GradientDescentOptimizer.

  python3 Scripts/tf_graphdef.py check-backprop [PB ...]
      Imports graphs that Backprop exported (Tests/Fixtures/graphdef/backprop_*.pb, written by
      `swift test` with BACKPROP_WRITE_FIXTURES=1, or `backprop graph <recipe> --pb FILE`) with
      tf.compat.v1.import_graph_def, sets A to the value Backprop started from, runs Backprop's own
      training operation (gradients and the AssignSub update, exported as TensorFlow ops) for the
      same samples in TensorFlow and compares the loss and A at every step with Backprop's
      (the .json beside each .pb).

  python3 Scripts/tf_graphdef.py check-adam
      Imports Tests/Fixtures/graphdef/adam_digits.pb (a digits MLP trained by Backprop's Adam, whose
      fused update is exported as TensorFlow's ApplyAdam with both beta powers 0 and lr the step
      size), sets every variable (weights, Adam's slots, the step counter) to Backprop's initial
      values, runs the training operation on the four batches of adam_digits.json in TensorFlow
      and compares each loss and the final variables with Backprop's.

  python3 Scripts/tf_graphdef.py check-schedules
      Imports Tests/Fixtures/graphdef/schedules.pb (Backprop's learning-rate schedules, exported as
      TensorFlow float64 arithmetic on a `step` placeholder; written by `swift test` with
      BACKPROP_WRITE_FIXTURES=1) and compares each schedule's value at every step of
      schedules.json with Backprop's: they must agree to 1e-14 of the schedule's largest rate (the
      last bits of cos and division may differ between TensorFlow and the C library).

  python3 Scripts/tf_graphdef.py check-model DIR INPUT PREDICTIONS
      Imports a whole-model directory (`backprop fashion|digits|regression --save-model DIR`:
      graph.pb and variables.safetensors) with tf.compat.v1.import_graph_def, sets every variable
      from variables.safetensors (read with NumPy), feeds INPUT (an IDX file, plain or .gz, or a CSV
      of rows) to the tensor the metadata names `input`, and compares the classes (argmax of the
      `output`) with PREDICTIONS, the lines `backprop predict --model DIR --input INPUT` printed.

  python3 Scripts/tf_graphdef.py check-training [DIR]
      Imports a model directory saved before training (default Tests/Fixtures/graphdef/embedding_model,
      an Embedding, LayerNorm and a leaky ReLU trained by Adam, written by `swift test` with
      BACKPROP_WRITE_FIXTURES=1: the embedding's gradient is UnsortedSegmentSum with Shape and
      StridedSlice, the slope travels in _backprop_alpha), sets every variable from
      variables.safetensors, runs the training operation on the batches of DIR.json in TensorFlow
      and compares each loss and the final variables with Backprop's (DIR.json).
  python3 Scripts/tf_graphdef.py export-batchnorm
      Builds a small channels-last network with TensorFlow's batch normalization
      (tf.compat.v1.layers.batch_normalization(fused=True) written out, as Keras 3 no longer
      provides it: FusedBatchNormV3 with is_training true and, on the moving averages, false, with
      the AssignSub updates; and a raw FusedBatchNormV3 with exponential_avg_factor 0.25) and writes Tests/Fixtures/graphdef/tf_batchnorm.pb with tf_batchnorm.json: the input,
      TensorFlow's outputs of both phases, the averaged statistics, the layer's moving averages
      after one run of its update operations, and TensorFlow's gradients (FusedBatchNormGradV3) of
      a weighted sum of the training output with respect to the input, gamma and beta, which
      `swift test` compares with Backprop's run of the imported graph and its own gradients.

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install tensorflow-cpu
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "Fixtures", "graphdef")


def export_notebook():
    os.makedirs(FIXTURES, exist_ok=True)
    # Regression (the notebook's first recipe).
    g = tf.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32, name="x_data")
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32, name="y_target")
        A = tf1.Variable(tf1.random_normal(shape=[1]), name="A")
        my_output = tf.multiply(x_data, A)
        loss = tf.square(my_output - y_target, name="loss")
        tf1.global_variables_initializer()
    write(g, "tf_regression.pb", loss)
    # Classification (the notebook's second recipe).
    g = tf.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32, name="x_data")
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32, name="y_target")
        A = tf1.Variable(tf1.random_normal(mean=10, shape=[1]), name="A")
        my_output = tf.add(x_data, A)
        my_output_expanded = tf.expand_dims(my_output, 0)
        y_target_expanded = tf.expand_dims(y_target, 0)
        xentropy = tf.nn.sigmoid_cross_entropy_with_logits(
            logits=my_output_expanded, labels=y_target_expanded)
        xentropy = tf.identity(xentropy, name="loss")
        tf1.global_variables_initializer()
    write(g, "tf_classification.pb", xentropy)


def export_batchnorm():
    os.makedirs(FIXTURES, exist_ok=True)
    rng = np.random.RandomState(7)
    xv = (rng.randn(5, 4, 4, 3) * 1.5 + 0.7).astype(np.float32)
    weights = rng.randn(5, 4, 4, 3).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, shape=[None, 4, 4, 3], name="x")
        # tf.compat.v1.layers.batch_normalization(fused=True) as TensorFlow 1 built it (the
        # layer is gone with Keras 3): its variables, FusedBatchNormV3 in each phase and the
        # AssignMovingAvg updates, moving -= (moving - batch) * (1 - momentum).
        def variable(value, name, trainable=True):
            return tf1.Variable(np.array(value, np.float32), name="bn/" + name, trainable=trainable, use_resource=False)
        gamma, beta = variable([1.5, 0.5, -1.0], "gamma"), variable([0.1, -0.2, 0.3], "beta")
        moving_mean = variable([0.5, -0.5, 1.0], "moving_mean", trainable=False)
        moving_variance = variable([2.0, 1.0, 0.5], "moving_variance", trainable=False)
        y, batch_mean, batch_variance = tf1.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3, is_training=True, name="bn/train")
        y_train = tf.identity(y, name="y_train")
        y_infer = tf.identity(tf1.nn.fused_batch_norm(
            x, gamma, beta, mean=moving_mean, variance=moving_variance, epsilon=1e-3, is_training=False, name="bn/infer")[0],
            name="y_infer")
        updates = tf.group(
            tf1.assign_sub(moving_mean, (moving_mean - batch_mean) * 0.1, name="bn/AssignMovingAvg"),
            tf1.assign_sub(moving_variance, (moving_variance - batch_variance) * 0.1, name="bn/AssignMovingAvg_1"),
            name="updates")
        raw = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.constant([1.0, 2.0, 0.5]), offset=tf.constant([0.0, 0.1, -0.1]),
            mean=tf.constant([0.2, 0.4, -0.3]), variance=tf.constant([1.5, 0.8, 2.5]),
            epsilon=0.01, exponential_avg_factor=0.25, is_training=True, name="raw")
        init = tf1.global_variables_initializer()
        # The fixture is the forward graph (Backprop differentiates it itself); TensorFlow's
        # gradients of a weighted sum of the training output are computed beside it.
        gd = g.as_graph_def()
        loss = tf.reduce_sum(y_train * tf.constant(weights), name="loss")
        grads = tf.gradients(loss, [x, gamma, beta])
    with open(os.path.join(FIXTURES, "tf_batchnorm.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        yt, yi, r1, r2, gx, gg, gb = sess.run([y_train, y_infer, raw[1], raw[2], *grads], {x: xv})
        sess.run(updates, {x: xv})
        moving = sess.run([moving_mean, moving_variance])
    grad_ops = sorted({op.type for op in g.get_operations() if "Grad" in op.type})
    meta = {
        "tensorflow": tf.__version__, "x": xv.ravel().tolist(), "shape": list(xv.shape), "weights": weights.ravel().tolist(),
        "y_train": yt.ravel().tolist(), "y_infer": yi.ravel().tolist(),
        "raw_batch_mean": r1.tolist(), "raw_batch_variance": r2.tolist(),
        "moving_mean": moving[0].tolist(), "moving_variance": moving[1].tolist(),
        "grad_x": gx.ravel().tolist(), "grad_gamma": gg.tolist(), "grad_beta": gb.tolist(),
        "gradient_ops": grad_ops,
    }
    with open(os.path.join(FIXTURES, "tf_batchnorm.json"), "w") as f:
        json.dump(meta, f)
    ops = sorted({n.op for n in gd.node})
    print(f"wrote tf_batchnorm.pb: {len(gd.node)} nodes, ops {', '.join(ops)}; TensorFlow's gradients used {grad_ops}")


def write(g, name, loss):
    gd = g.as_graph_def()
    path = os.path.join(FIXTURES, name)
    with open(path, "wb") as f:
        f.write(gd.SerializeToString())
    ops = sorted({n.op for n in gd.node})
    print(f"wrote {path}: {len(gd.node)} nodes, loss {loss.name}, ops {', '.join(ops)}")


def check_backprop(paths):
    failures = 0
    for pb in paths:
        meta = json.load(open(pb[:-3] + ".json"))
        gd = tf1.GraphDef()
        gd.ParseFromString(open(pb, "rb").read())
        g = tf.Graph()
        with g.as_default():
            tf1.import_graph_def(gd, name="")
            a = g.get_tensor_by_name(meta["A"] + ":0")
            start = tf1.placeholder(tf.float32, shape=[1])
            set_a = tf.raw_ops.Assign(ref=a, value=start)
        with tf1.Session(graph=g) as sess:
            sess.run(meta["init"])
            sess.run(set_a, {start: np.array([meta["initialA"]], np.float32)})
            worst_loss = worst_a = 0.0
            for x, y, want_loss, want_a in zip(meta["x"], meta["y"], meta["losses"], meta["A_after"]):
                feeds = {meta["x_name"] + ":0": np.array([x], np.float32), meta["y_name"] + ":0": np.array([y], np.float32)}
                loss, _ = sess.run([meta["loss"], meta["train"]], feeds)
                got_a = sess.run(a)[0]
                worst_loss = max(worst_loss, abs(float(np.ravel(loss)[0]) - want_loss) / max(1.0, abs(want_loss)))
                worst_a = max(worst_a, abs(float(got_a) - want_a) / max(1.0, abs(want_a)))
            ok = worst_loss <= 1e-5 and worst_a <= 1e-5
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(pb)}: {len(gd.node)} nodes, {len(meta['x'])} steps in TensorFlow "
                  f"{tf.__version__}; final A {float(got_a)!r} (Backprop {meta['A_after'][-1]!r}); "
                  f"largest relative difference: loss {worst_loss:.3g}, A {worst_a:.3g}")
    print(f"{len(paths) - failures} passed, {failures} failed")
    return failures


def check_schedules():
    base = os.path.join(FIXTURES, "schedules")
    meta = json.load(open(base + ".json"))
    gd = tf1.GraphDef()
    gd.ParseFromString(open(base + ".pb", "rb").read())
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(gd, name="")
    failures = 0
    with tf1.Session(graph=g) as sess:
        for name, want in meta["schedules"].items():
            got = [float(sess.run(name + ":0", {meta["step"] + ":0": np.float64(t)})) for t in meta["steps"]]
            # Differences relative to the schedule's largest rate: TensorFlow's cos and division may
            # differ from the C library's in the last bit, which a near-zero rate magnifies.
            scale = max(abs(b) for b in want)
            worst = max(abs(a - b) for a, b in zip(got, want)) / scale
            ok = worst <= 1e-14
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(want)} steps in TensorFlow {tf.__version__}, "
                  f"largest difference {worst:.3g} of the largest rate" + ("" if ok else f"\n     TensorFlow {got}\n     Backprop   {want}"))
    print(f"{len(meta['schedules']) - failures} passed, {failures} failed")
    return 1 if failures else 0


def check_adam():
    base = os.path.join(FIXTURES, "adam_digits")
    meta = json.load(open(base + ".json"))
    gd = tf1.GraphDef()
    gd.ParseFromString(open(base + ".pb", "rb").read())
    ops = sorted({n.op for n in gd.node if n.op.startswith("Apply")})
    g = tf.Graph()
    setters = {}
    with g.as_default():
        tf1.import_graph_def(gd, name="")
        for name, v in meta["initial"].items():
            ref = g.get_tensor_by_name(name + ":0")
            p = tf1.placeholder(ref.dtype.base_dtype, shape=v["shape"])
            setters[name] = (p, tf.raw_ops.Assign(ref=ref, value=p))
    with tf1.Session(graph=g) as sess:
        sess.run(meta["init"])
        for name, v in meta["initial"].items():
            p, op = setters[name]
            sess.run(op, {p: np.array(v["values"], p.dtype.as_numpy_dtype).reshape(v["shape"])})
        worst_loss = 0.0
        for batch, want in zip(meta["batches"], meta["losses"]):
            x = np.array(batch["x"], np.float32).reshape(-1, 64)
            y = np.array(batch["y"], np.int32)
            loss, _ = sess.run([meta["loss"], meta["train"]], {meta["input"]: x, meta["labels"]: y})
            worst_loss = max(worst_loss, abs(float(loss) - want) / max(1.0, abs(want)))
        worst = 0.0
        for name, v in meta["final"].items():
            got = sess.run(g.get_tensor_by_name(name + ":0")).astype(np.float64).ravel()
            want = np.array(v["values"], np.float64)
            d = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
            if os.environ.get("VERBOSE"): print(name, d, got[:4], want[:4])
            worst = max(worst, d)
    ok = worst_loss <= 1e-5 and worst <= 1e-5
    print(f"{'ok  ' if ok else 'FAIL'} adam_digits.pb: {len(gd.node)} nodes ({', '.join(ops)}), {len(meta['batches'])} steps in "
          f"TensorFlow {tf.__version__}; largest relative difference: loss {worst_loss:.3g}, variables (weights, slots, "
          f"step counter) {worst:.3g}")
    return 0 if ok else 1


def read_safetensors(path):
    """The tensors and metadata of a safetensors file (8-byte header length, JSON header, data)."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U8": np.uint8, "BOOL": np.bool_}
    data = raw[8 + n:]
    tensors = {name: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], kinds[e["dtype"]]).reshape(e["shape"])
               for name, e in header.items()}
    return tensors, meta


def load_model_directory(directory):
    """A whole-model directory (graph.pb, variables.safetensors) imported into a new TensorFlow
    graph: (graph, GraphDef, tensors, metadata, assign), where `assign(sess)` sets every variable
    to the file's value."""
    gd = tf1.GraphDef()
    gd.ParseFromString(open(os.path.join(directory, "graph.pb"), "rb").read())
    tensors, meta = read_safetensors(os.path.join(directory, "variables.safetensors"))
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(gd, name="")
        setters = {}
        for name, value in tensors.items():
            ref = g.get_tensor_by_name(name + ":0")
            p = tf1.placeholder(ref.dtype.base_dtype, shape=value.shape)
            setters[name] = (p, tf.raw_ops.Assign(ref=ref, value=p))

    def assign(sess):
        for name, value in tensors.items():
            p, op = setters[name]
            sess.run(op, {p: value})

    return g, gd, tensors, meta, assign


def check_training(directory):
    directory = directory.rstrip("/")
    meta = json.load(open(directory + ".json"))
    g, gd, _, _, assign = load_model_directory(directory)
    ops = sorted({n.op for n in gd.node if n.op in ("UnsortedSegmentSum", "StridedSlice", "Shape", "GatherV2", "LeakyRelu", "ApplyAdam")})
    alphas = sorted({round(n.attr["alpha"].f, 6) for n in gd.node if n.op == "LeakyRelu"})
    with tf1.Session(graph=g) as sess:
        assign(sess)
        worst_loss = 0.0
        for batch, want in zip(meta["batches"], meta["losses"]):
            ids = np.array(batch["ids"], np.int32).reshape(-1, 3)
            labels = np.array(batch["labels"], np.int32)
            loss, _ = sess.run([meta["loss"], meta["train"]], {meta["ids"]: ids, meta["labels"]: labels})
            d = abs(float(loss) - want) / max(1.0, abs(want))
            if os.environ.get("VERBOSE"): print("loss", float(loss), want, d)
            worst_loss = max(worst_loss, d)
        worst, worst_name = 0.0, ""
        for name, v in meta["final"].items():
            got = sess.run(g.get_tensor_by_name(name + ":0")).astype(np.float64).ravel()
            want = np.array(v["values"], np.float64)
            d = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
            if os.environ.get("VERBOSE"): print(name, d, got[:4], want[:4])
            if d > worst: worst, worst_name = d, name
    ok = worst_loss <= 1e-5 and worst <= 1e-5
    print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(directory)}: {len(gd.node)} nodes ({', '.join(ops)}; LeakyRelu alpha "
          f"{alphas}), {len(meta['batches'])} steps in TensorFlow {tf.__version__}; largest relative difference: loss "
          f"{worst_loss:.3g}, variables {worst:.3g}{' (' + worst_name + ')' if worst_name else ''}")
    return 0 if ok else 1


def read_rows(path):
    import gzip
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:2] == b"\x00\x00":
        dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
        values = np.frombuffer(raw[4 + 4 * len(dims):], np.uint8).astype(np.float64)
        return values.reshape(dims[0], -1)
    return np.loadtxt(path, delimiter=",", ndmin=2)


def check_model(directory, input_path, predictions_path):
    g, gd, tensors, meta, assign = load_model_directory(directory)
    x = g.get_tensor_by_name(meta["input"] if ":" in meta["input"] else meta["input"] + ":0")
    y = g.get_tensor_by_name(meta["output"] if ":" in meta["output"] else meta["output"] + ":0")
    rows = read_rows(input_path)
    with tf1.Session(graph=g) as sess:
        assign(sess)
        out = sess.run(y, {x: rows[:, :int(np.prod(x.shape.as_list()[1:]))].astype(x.dtype.as_numpy_dtype)})
    classes = np.argmax(out, axis=1)
    want = np.array([int(line) for line in open(predictions_path).read().split()])
    same = int(np.sum(classes == want))
    ok = same == len(want) == len(classes)
    print(f"{'ok  ' if ok else 'FAIL'} {directory}: {len(gd.node)} nodes in TensorFlow {tf.__version__}, "
          f"{len(tensors)} variables; the same class for {same} of {len(want)} rows")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "export-notebook":
        export_notebook()
    elif len(sys.argv) >= 2 and sys.argv[1] == "check-backprop":
        paths = sys.argv[2:] or [os.path.join(FIXTURES, f) for f in sorted(os.listdir(FIXTURES))
                                 if f.startswith("backprop_") and f.endswith(".pb")]
        sys.exit(1 if check_backprop(paths) else 0)
    elif len(sys.argv) >= 2 and sys.argv[1] == "export-batchnorm":
        export_batchnorm()
    elif len(sys.argv) >= 2 and sys.argv[1] == "check-schedules":
        sys.exit(check_schedules())
    elif len(sys.argv) >= 2 and sys.argv[1] == "check-adam":
        sys.exit(check_adam())
    elif len(sys.argv) in (2, 3) and sys.argv[1] == "check-training":
        sys.exit(check_training(sys.argv[2] if len(sys.argv) == 3 else os.path.join(FIXTURES, "embedding_model")))
    elif len(sys.argv) == 5 and sys.argv[1] == "check-model":
        sys.exit(check_model(*sys.argv[2:]))
    else:
        print(__doc__)
        sys.exit(2)
