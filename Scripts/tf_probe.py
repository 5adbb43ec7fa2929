#!/usr/bin/env python3
"""Graphs as TensorFlow users write them, with TensorFlow's own values (the ninth probe).

  python3 Scripts/tf_probe.py export-checkpoint [DIR]
      Writes a TensorFlow checkpoint of a TF1 training graph and TensorFlow's losses after it
      (Tests/Fixtures/graphdef/tf_checkpoint; see export_checkpoint).

  python3 Scripts/tf_probe.py export [DIR] [CASE ...]
      Writes, for each case, DIR/<case>.pb (the GraphDef TensorFlow wrote: a tf.compat.v1 graph,
      or a Keras model frozen from a tf.function's concrete function with
      convert_variables_to_constants_v2) and DIR/<case>.json: the inputs fed (by tensor name, with
      dtype, shape and values), TensorFlow's outputs for them, and for training graphs the
      training operation, the loss and TensorFlow's losses over a few steps (the same batch each
      step). DIR defaults to Tests/Fixtures/graphdef/probe9, which `swift test` reads
      (GraphDefProbeTests): Backprop imports each graph with Graph(graphDef:), runs it on the same
      inputs and compares; a case whose json has "refused" must be refused with an error naming
      the listed operation types and nodes; one whose json has "raises" must import, give
      TensorFlow's values, and fail the run on the "raises" feeds naming the node, as TensorFlow
      raised there.

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install tensorflow-cpu
Deterministic: NumPy's RandomState with fixed seeds, graph-level seeds for initializers.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "Tests", "Fixtures", "graphdef", "probe9")


def array(name, value):
    value = np.asarray(value)
    return {"name": name, "dtype": str(value.dtype), "shape": list(value.shape),
            "values": value.ravel().astype(np.float64).tolist() if value.dtype != np.bool_ else value.ravel().tolist()}


def run_v1(g, feeds, fetches, init=True, train=None, steps=0, after=()):
    """Runs `fetches` (tensor names) on `feeds` ({name: value}); trains `steps` steps of `train`,
    then evaluates `after` (tensor names)."""
    with tf1.Session(graph=g) as sess:
        if init:
            sess.run(tf1.global_variables_initializer())
        fd = {g.get_tensor_by_name(k): v for k, v in feeds.items()}
        values = sess.run([g.get_tensor_by_name(n) for n in fetches], fd)
        losses = []
        if train:
            op, loss = train
            for _ in range(steps):
                l, _ = sess.run([g.get_tensor_by_name(loss), g.get_operation_by_name(op)], fd)
                losses.append(float(l))
        later = sess.run([g.get_tensor_by_name(n) for n in after], fd) if after else []
    return values, losses, later


def case_v1(name, build, feeds, fetches, train=None, steps=0, note="", optimizer=None, minimized=None, after=()):
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(1)
        build()
        tf1.global_variables_initializer()
    values, losses, later = run_v1(g, feeds, fetches, train=train, steps=steps, after=after)
    meta = {"kind": "compat.v1", "note": note, "feeds": [array(k, v) for k, v in feeds.items()],
            "fetches": [array(n, v) for n, v in zip(fetches, values)]}
    if train:
        meta["train"] = {"op": train[0], "loss": train[1], "losses": losses, "optimizer": optimizer}
        if after:
            # Values after the training steps (the step counter's count).
            meta["train"]["after"] = [array(n, v) for n, v in zip(after, later)]
        if minimized:
            # The tensor minimize() was given, when the loss reported is another (its mean).
            meta["train"]["minimized"] = minimized
        # The forward graph alone (what tf.compat.v1.graph_util.extract_sub_graph keeps for the
        # loss and the model's initial assignments), which Backprop trains with its own optimizer.
        assigns = [v.op.name + "/Assign" for v in g.get_collection("trainable_variables")]
        forward = tf1.graph_util.extract_sub_graph(g.as_graph_def(), assigns + [train[1].split(":")[0]] + [n.split(":")[0] for n in fetches])
        meta["forward_ops"] = sorted({n.op for n in forward.node})
        return g.as_graph_def(), meta, forward
    return g.as_graph_def(), meta


def case_keras(name, model, inputs, note=""):
    """A Keras model frozen as TF users do: a tf.function's concrete function, then
    convert_variables_to_constants_v2; inference (training=False)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    specs = [tf.TensorSpec([None] + list(v.shape[1:]), tf.as_dtype(v.dtype), name=f"input_{i}") for i, v in enumerate(inputs)]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    concrete = fn.get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    out = frozen(*[tf.constant(v) for v in inputs])
    out = out[0] if isinstance(out, (list, tuple)) else out
    in_names = [t.name for t in frozen.inputs]
    out_name = frozen.outputs[0].name
    meta = {"kind": "keras", "note": note, "feeds": [array(n, v) for n, v in zip(in_names, inputs)],
            "fetches": [array(out_name, out.numpy())]}
    return gd, meta


def cases():
    rng = np.random.RandomState(9)
    out = {}

    # tf.compat.v1 training graphs: placeholders, variables, an optimizer's train op.
    xb = rng.randn(8, 3).astype(np.float32)
    yb = (xb @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    settings = {"sgd": {"kind": "sgd", "learning_rate": 0.1}, "momentum": {"kind": "momentum", "learning_rate": 0.05, "momentum": 0.9},
                "momentum_nesterov": {"kind": "momentum", "learning_rate": 0.05, "momentum": 0.9, "use_nesterov": True},
                "adam": {"kind": "adam", "learning_rate": 0.05, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                "adagrad": {"kind": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.1},
                "rmsprop": {"kind": "rmsprop", "learning_rate": 0.01, "decay": 0.9, "momentum": 0.0, "epsilon": 1e-10, "centered": False},
                "rmsprop_centered": {"kind": "rmsprop", "learning_rate": 0.01, "decay": 0.8, "momentum": 0.5, "epsilon": 1e-6, "centered": True}}
    for opt_name, make in [("sgd", lambda: tf1.train.GradientDescentOptimizer(0.1)),
                           ("momentum", lambda: tf1.train.MomentumOptimizer(0.05, 0.9)),
                           ("momentum_nesterov", lambda: tf1.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True)),
                           ("adam", lambda: tf1.train.AdamOptimizer(0.05)),
                           ("adagrad", lambda: tf1.train.AdagradOptimizer(0.1)),
                           ("rmsprop", lambda: tf1.train.RMSPropOptimizer(0.01)),
                           ("rmsprop_centered", lambda: tf1.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-6, centered=True))]:
        for resource in [False, True]:
            def build(make=make, resource=resource):
                x = tf1.placeholder(tf.float32, [None, 3], name="x")
                y = tf1.placeholder(tf.float32, [None, 1], name="y")
                w = tf1.get_variable("w", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=resource)
                b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer(), use_resource=resource)
                pred = tf.add(tf.matmul(x, w), b, name="pred")
                loss = tf.reduce_mean(tf.square(pred - y), name="loss")
                make().minimize(loss, name="train")
            key = f"v1_{opt_name}_{'resource' if resource else 'ref'}"
            out[key] = lambda build=build, key=key, opt=opt_name: case_v1(key, build, {"x:0": xb, "y:0": yb}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4, optimizer=settings[opt])

    # Forward tf.compat.v1 graphs: casts, shapes, gathers, reductions, where, broadcasting.
    a = rng.randn(2, 3, 4).astype(np.float32)
    ids = np.array([[0, 2], [1, 1], [3, 0]], np.int32)

    # One operation (or a short chain) per graph, so one unsupported operation hides no other.
    single = {
        "reshape_transpose": lambda x, i: tf.reshape(tf.transpose(x, [2, 0, 1]), [4, -1]),
        "concat": lambda x, i: tf.concat([x, x * 2.0], axis=-1),
        "slice_minus_one": lambda x, i: tf.slice(x, [0, 1, 1], [2, -1, 2]),
        "gather": lambda x, i: tf.gather(x, i, axis=2),
        "gather_axis0": lambda x, i: tf.gather(x, [1, 0, 1]),
        "sum_keep": lambda x, i: tf.reduce_sum(x, axis=[0, 2], keepdims=True),
        "max": lambda x, i: tf.reduce_max(x, axis=-1),
        "mean_all": lambda x, i: tf.reduce_mean(x),
        "where": lambda x, i: tf.where(x > 0, x, tf.zeros_like(x)),
        "where_v1_rows": lambda x, i: tf1.where(tf.constant([True, False]), x, -x),
        "broadcast": lambda x, i: x + tf.constant([1.0, 2.0, 3.0, 4.0]),
        "cast_roundtrip": lambda x, i: tf.cast(tf.cast(x * 3.0, tf.int32), tf.float32),
        "cast_bool": lambda x, i: tf.cast(tf.cast(x, tf.bool), tf.float32),
        "to_float64": lambda x, i: tf.cast(x, tf.float64) * tf.constant(1.5, tf.float64),
        "squeeze": lambda x, i: tf.squeeze(tf.expand_dims(x, 0), [0]),
        "squeeze_negative": lambda x, i: tf.squeeze(tf.expand_dims(x, -1), [-1]),
        "argmax": lambda x, i: tf.argmax(x, axis=2, output_type=tf.int32),
        "argmax_int64": lambda x, i: tf.cast(tf.argmax(x, axis=1), tf.int32),
        "split": lambda x, i: tf.split(x, [1, 3], axis=2)[1],
        "int_arith": lambda x, i: tf.identity((i * 7 - 5) // 3 + (i * 7 - 5) % 3 - tf.abs(i - 2)),
        "int_div": lambda x, i: tf.truncatediv(i * 7 - 5, tf.constant(3)),
        "int_mean": lambda x, i: tf.reduce_mean(i * 5 - 4, axis=1),
        "int_sum": lambda x, i: tf.reduce_sum(i, axis=0),
        "int_max": lambda x, i: tf.reduce_max(i * 3 - 7),
        "int_pow": lambda x, i: tf.pow(i, 3),
        "float_floordiv": lambda x, i: tf.math.floordiv(x * 5.0, 1.5) + tf.math.floormod(x * 5.0, 1.5),
        "float64_chain": lambda x, i: tf.reduce_sum(tf.exp(tf.cast(x, tf.float64) * 0.5) / tf.constant(3.0, tf.float64), axis=1),
        "round": lambda x, i: tf.round(x * 2.0 + 0.5),
        "floor_ceil": lambda x, i: tf.floor(x * 2.0) + tf.math.ceil(x * 3.0) * 10.0,
        "minimum_maximum": lambda x, i: tf.minimum(tf.maximum(x, -0.5), 0.5),
        "softmax_axis": lambda x, i: tf.nn.softmax(x, axis=1),
        "log_softmax": lambda x, i: tf.nn.log_softmax(x),
        "transpose_negative": lambda x, i: tf.transpose(x, [0, 2, 1]) * 1.0,
        "matmul_transpose": lambda x, i: tf.matmul(x[0], x[1], transpose_b=True),
        "batch_matmul": lambda x, i: tf.matmul(x, x, transpose_b=True),
        "one_hot": lambda x, i: tf.one_hot(i, 4, on_value=2.0, off_value=-1.0),
        "one_hot_axis0": lambda x, i: tf.one_hot(i[:, 0], 4, axis=0),
        "equal_int": lambda x, i: tf.cast(tf.equal(i, 1), tf.float32),
        "logical": lambda x, i: tf.cast(tf.logical_and(x > 0, tf.logical_not(x > 1)), tf.int32),
        "broadcast_to": lambda x, i: tf.broadcast_to(tf.constant([[1.0], [2.0], [3.0]]), [2, 3, 4]) * x,
        "reduce_any": lambda x, i: tf.reduce_any(x > 1.5, axis=1),
        "strided": lambda x, i: x[:, 1:, ::2],
        "strided_shrink": lambda x, i: x[1, :, 0],
        "strided_negative": lambda x, i: x[:, ::-1, -2:],
        "strided_mixed": lambda x, i: x[-1, 2:0:-1, 1::2],
        "strided_ellipsis": lambda x, i: x[..., 1],
        "strided_newaxis": lambda x, i: x[:, tf.newaxis, 1],
        "prod": lambda x, i: tf.reduce_prod(x, axis=1),
        "stack": lambda x, i: tf.stack([x, x], axis=1),
        "tile": lambda x, i: tf.tile(x, [1, 2, 1]),
        "pad": lambda x, i: tf.pad(x, [[0, 0], [1, 0], [0, 2]]),
        "pad_v2": lambda x, i: tf.pad(x, [[1, 1], [0, 1], [2, 0]], constant_values=1.5),
        "prod_keep_zero": lambda x, i: tf.reduce_prod(x * tf.constant([[1.0], [0.0], [1.0]]), axis=[0, 2], keepdims=True),
        "prod_int": lambda x, i: tf.reduce_prod(i + 1, axis=0),
        "mirror_pad_reflect": lambda x, i: tf.pad(x, [[1, 1], [2, 0], [0, 3]], mode="REFLECT"),
        "mirror_pad_symmetric": lambda x, i: tf.pad(x, [[2, 1], [0, 3], [4, 0]], mode="SYMMETRIC"),
        "relu6": lambda x, i: tf.nn.relu6(x),
        "range": lambda x, i: tf.cast(tf.range(3, 11, 2), tf.float32),
        "fill": lambda x, i: tf.fill([2, 3], 1.5),
        "cumsum": lambda x, i: tf.cumsum(x, axis=1),
        "clip": lambda x, i: tf.clip_by_value(x, -0.3, 0.4),
        "l2_normalize": lambda x, i: tf.math.l2_normalize(x, axis=-1),
        "sigmoid_xent": lambda x, i: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(x) * 0.3, logits=x),
        "softmax_xent": lambda x, i: tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(x * 0.5), logits=x),
        "sparse_xent": lambda x, i: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=i[:, 0], logits=x[0, :, :]),
        "square_sqrt": lambda x, i: tf.sqrt(tf.square(x) + 1.0) - tf.math.rsqrt(tf.abs(x) + 1.0),
        "leaky_relu": lambda x, i: tf.nn.leaky_relu(x, alpha=0.1),
        "gelu": lambda x, i: tf.nn.gelu(x),
        "swish": lambda x, i: tf.nn.silu(x),
        "softplus_elu_selu": lambda x, i: tf.nn.softplus(x) + tf.nn.elu(x) + tf.nn.selu(x),
        "tanh_sigmoid": lambda x, i: tf.tanh(x) * tf.sigmoid(x),
        "shape_dynamic": lambda x, i: tf.reshape(x, [tf.shape(x)[0], -1]),
    }
    for key, f in single.items():
        def build(f=f):
            x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
            i = tf1.placeholder(tf.int32, [3, 2], name="i")
            tf.identity(f(x, i), name="out")
        out["op_" + key] = lambda key=key, build=build: case_v1(key, build, {"x:0": a, "i:0": ids}, ["out:0"])

    # Shapes computed when the graph runs (a batch of unknown size), as Keras's Flatten writes them.
    dynamic = {
        "flatten": (lambda x, y: tf.reshape(x, [tf.shape(x)[0], -1]), [None, 3, 4]),
        "flatten_concat": (lambda x, y: tf.reshape(x, tf.concat([tf.shape(x)[:1], [12]], 0)), [None, 3, 4]),
        "batch_count": (lambda x, y: tf.cast(tf.shape(x)[0], tf.float32) * 2.0, [None, 3, 4]),
        "other_tensor": (lambda x, y: tf.reshape(x, [tf.shape(y)[0], -1]), [None, 3, 4]),
        "two_unknown": (lambda x, y: tf.reshape(x, [tf.shape(x)[0], -1]), [None, None, 4]),
    }
    for key, (f, shape) in dynamic.items():
        def build(f=f, shape=shape):
            x = tf1.placeholder(tf.float32, shape, name="x")
            y = tf1.placeholder(tf.float32, [None], name="y")
            tf.identity(f(x, y), name="out")
        out["dyn_" + key] = lambda key=key, build=build: case_v1(key, build, {"x:0": a, "y:0": np.ones(2, np.float32)}, ["out:0"])

    # Attribute values that change the meaning: each case is run by TensorFlow and compared.
    attrs = {
        "where_v1_rows_square": lambda x, i: tf1.where(tf.constant([True, False, True]), tf.reshape(tf.slice(x, [0, 0, 0], [1, 3, 3]), [3, 3]), -tf.reshape(tf.slice(x, [1, 0, 1], [1, 3, 3]), [3, 3])),
        "one_hot_axis0_plain": lambda x, i: tf.one_hot(i, 4, axis=0),
        "one_hot_axis1": lambda x, i: tf.one_hot(i, 3, axis=1, on_value=5.0),
        "bias_add_nchw": lambda x, i: tf.nn.bias_add(tf.reshape(x, [2, 3, 2, 2]), tf.constant([1.0, 2.0, 3.0]), data_format="NCHW"),
        "bias_add_nchw_square": lambda x, i: tf.nn.bias_add(tf.reshape(x, [2, 2, 3, 2]), tf.constant([1.0, -2.0]), data_format="NCHW"),
        "gather_batch_dims": lambda x, i: tf.gather(x, tf.constant([[0, 3], [2, 2]]), axis=2, batch_dims=1),
        "cast_truncate": lambda x, i: tf.cast(x * 3.0, tf.int32),
        "mean_keep": lambda x, i: tf.reduce_mean(x, axis=[1], keepdims=True),
        "squeeze_all": lambda x, i: tf.squeeze(tf.reshape(x, [1, 2, 1, 12])),
        "split_num": lambda x, i: tf.split(x, 2, axis=2)[1],
        "conv_dilated": lambda x, i: tf.nn.conv2d(tf.reshape(x, [1, 4, 6, 1]), tf.ones([2, 2, 1, 2]), strides=1, padding="SAME", dilations=2),
        "conv_strided_valid": lambda x, i: tf.nn.conv2d(tf.reshape(x, [1, 4, 6, 1]), tf.constant(np.arange(8, dtype=np.float32).reshape(2, 2, 1, 2)), strides=[1, 2, 1, 1], padding="VALID"),
        "maxpool_same": lambda x, i: tf.nn.max_pool2d(tf.reshape(x, [1, 4, 6, 1]), ksize=3, strides=2, padding="SAME"),
        "avgpool_same": lambda x, i: tf.nn.avg_pool2d(tf.reshape(x, [1, 4, 6, 1]), ksize=3, strides=2, padding="SAME"),
        "conv_explicit_padding": lambda x, i: tf.nn.conv2d(tf.reshape(x, [1, 4, 6, 1]), tf.ones([2, 2, 1, 1]), strides=1, padding=[[0, 0], [1, 0], [0, 2], [0, 0]]),
        "conv_explicit_strided": lambda x, i: tf.nn.conv2d(tf.reshape(x, [2, 3, 4, 1]), tf.constant(np.arange(12, dtype=np.float32).reshape(3, 2, 1, 2) - 5.0), strides=[1, 2, 1, 1], padding=[[0, 0], [2, 1], [1, 1], [0, 0]]),
        "argmin_int64": lambda x, i: tf.cast(tf.argmin(x, axis=-1), tf.float32),
        "leaky_default": lambda x, i: tf.nn.leaky_relu(x),
        "select_scalar": lambda x, i: tf.where(tf.constant(True), x, -x),
        "float64_int_cast": lambda x, i: tf.cast(tf.cast(i, tf.float64) / 3.0, tf.float32),
        "div_float": lambda x, i: tf.compat.v1.div(x, 3.0),
        "sign_round_half": lambda x, i: tf.round(tf.constant([0.5, 1.5, 2.5, -0.5, -1.5, 3.49])) * tf.sign(tf.slice(x, [0, 0, 0], [1, 1, 1]) * 0 + 1),
    }
    for key, f in attrs.items():
        def build(f=f):
            x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
            i = tf1.placeholder(tf.int32, [3, 2], name="i")
            tf.identity(f(x, i), name="out")
        out["attr_" + key] = lambda key=key, build=build: case_v1(key, build, {"x:0": a, "i:0": ids}, ["out:0"])

    # Graphs TensorFlow writes but does not run on this CPU, or of dtypes Backprop lacks: each
    # must be refused naming the node (the json's "refused").
    def concat_chain():
        # Each node concatenates the one before with itself: 2^k elements at node k, and a
        # recursion over the inputs visits 2^k nodes.
        c = tf.constant([1, 2], name="c")
        for k in range(40):
            c = tf.concat([c, c], 0, name=f"concat_{k}")
        return tf.identity(c, name="out")

    refusals = {
        "concat_chain": (concat_chain, "concat_32"),
        "conv_nchw": (lambda: tf.nn.conv2d(tf1.placeholder(tf.float32, [1, 2, 4, 4], name="x"), tf.ones([2, 2, 2, 3]), strides=1, padding="VALID", data_format="NCHW", name="conv"), "conv"),
        "maxpool_nchw": (lambda: tf.nn.max_pool2d(tf1.placeholder(tf.float32, [1, 2, 4, 4], name="x"), 2, 2, "VALID", data_format="NCHW", name="pool"), "pool"),
        "placeholder_float16": (lambda: tf.identity(tf1.placeholder(tf.float16, [2], name="x"), name="out"), "x"),
        "placeholder_int64": (lambda: tf.identity(tf1.placeholder(tf.int64, [2], name="x"), name="out"), "x"),
        "placeholder_uint8": (lambda: tf.identity(tf1.placeholder(tf.uint8, [2], name="x"), name="out"), "x"),
        "const_int64": (lambda: tf.identity(tf.constant([1, 2], tf.int64, name="c"), name="out"), "c"),
        "cast_bfloat16": (lambda: tf.cast(tf1.placeholder(tf.float32, [2], name="x"), tf.bfloat16, name="c"), "c"),
        "tile_huge": (lambda: tf.tile(tf1.placeholder(tf.float32, [2, 3], name="x"), [1 << 30, 1 << 30], name="tile"), "tile"),
        "strided_huge": (lambda: tf.identity(tf1.placeholder(tf.float32, [1 << 30], name="x")[::2], name="out"), "strided_slice"),
        # An int64 variable that is not only a step counter (arithmetic on it): still refused.
        "int64_variable_arithmetic": (lambda: tf.identity(tf.cast(tf1.get_variable("count", [], tf.int64, initializer=tf1.zeros_initializer(), use_resource=True) * 2, tf.float32), name="out"), "count/Initializer/zeros"),
        "adam_nesterov": (lambda: tf.raw_ops.ApplyAdam(var=tf1.Variable([1.0], use_resource=False, name="v")._ref(), m=tf1.Variable([0.0], use_resource=False, name="m")._ref(), v=tf1.Variable([0.0], use_resource=False, name="s")._ref(), beta1_power=0.9, beta2_power=0.999, lr=0.1, beta1=0.9, beta2=0.999, epsilon=1e-8, grad=[1.0], use_nesterov=True, name="apply"), "apply"),
    }
    for key, (f, node) in refusals.items():
        def build_refused(f=f, key=key, node=node):
            g = tf.Graph()
            with g.as_default():
                f()
            return g.as_graph_def(), {"kind": "refused", "refused": node, "feeds": [], "fetches": []}
        out["refuse_" + key] = build_refused

    # float64 placeholders and an int32 placeholder of unknown batch size.
    def f64():
        x = tf1.placeholder(tf.float64, [None, 3], name="x")
        w = tf1.Variable(np.array([[0.5], [-1.25], [2.0]], np.float64), name="w")
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0), name="loss")
        tf1.train.GradientDescentOptimizer(0.05).minimize(loss, name="train")
        tf.identity(tf.matmul(x, w), name="pred")
    xd = rng.randn(5, 3)
    out["v1_float64_sgd"] = lambda: case_v1("v1_float64_sgd", f64, {"x:0": xd}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=3, optimizer={"kind": "sgd", "learning_rate": 0.05})

    # Training through tf.pad and tf.reduce_prod: TensorFlow's gradients of both (its Prod
    # gradient's exclusive running products) against Backprop's, by the losses. The second
    # column of z starts at 0, so the product is 0 and its gradient is the other factor's.
    rng_pad = np.random.RandomState(11)
    xp = rng_pad.randn(6, 3).astype(np.float32)
    yp = rng_pad.randn(6, 1).astype(np.float32)

    def pad_prod():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [5, 2], initializer=tf1.constant_initializer([[0.1, 0.0], [0.2, 0.0], [-0.3, 0.0], [0.4, 0.0], [0.5, 0.0]]), use_resource=False)
        b = tf1.get_variable("b", [2], initializer=tf1.constant_initializer([0.5, 0.0]), use_resource=False)
        h = tf.pad(x, [[0, 0], [1, 1]], constant_values=1.0)
        z = tf.matmul(h, w) + b
        p = tf.reduce_prod(z, axis=1, keepdims=True, name="pred")
        loss = tf.reduce_mean(tf.square(p - y), name="loss")
        tf1.train.GradientDescentOptimizer(0.1).minimize(loss, name="train")
    out["v1_pad_prod_sgd"] = lambda: case_v1("v1_pad_prod_sgd", pad_prod, {"x:0": xp, "y:0": yp}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4, optimizer=settings["sgd"])

    def mirror_pad():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [7, 1], initializer=tf1.constant_initializer([[0.1], [-0.2], [0.3], [0.4], [-0.5], [0.6], [0.2]]), use_resource=False)
        h = tf.pad(tf.pad(x, [[0, 0], [2, 0]], mode="SYMMETRIC"), [[0, 0], [0, 2]], mode="REFLECT")
        pred = tf.matmul(h, w, name="pred")
        loss = tf.reduce_mean(tf.square(pred - y), name="loss")
        tf1.train.GradientDescentOptimizer(0.1).minimize(loss, name="train")
    out["v1_mirror_pad_sgd"] = lambda: case_v1("v1_mirror_pad_sgd", mirror_pad, {"x:0": xp, "y:0": yp}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4, optimizer=settings["sgd"])

    # Keras models frozen for inference.
    import keras
    keras.utils.set_random_seed(3)
    xi = rng.randn(4, 6).astype(np.float32)
    out["keras_mlp"] = lambda: case_keras("keras_mlp", keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(5, activation="tanh"), keras.layers.LayerNormalization(), keras.layers.Dense(3, activation="softmax")]), [xi])
    ximg = rng.rand(2, 8, 8, 3).astype(np.float32)

    def cnn():
        m = keras.Sequential([
            keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2), keras.layers.Conv2D(5, 3, strides=1, padding="valid"),
            keras.layers.Activation("sigmoid"), keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(3)])
        bn = m.layers[1]
        bn.moving_mean.assign(np.linspace(-0.2, 0.3, 4).astype(np.float32))
        bn.moving_variance.assign(np.linspace(0.5, 2.0, 4).astype(np.float32))
        return m
    out["keras_cnn"] = lambda: case_keras("keras_cnn", cnn(), [ximg])
    out["keras_avgpool_gap"] = lambda: case_keras("keras_avgpool_gap", keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 2, strides=2, padding="same", activation="elu"),
        keras.layers.AveragePooling2D(2), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]), [ximg])
    tokens = np.array([[1, 4, 2, 0], [3, 3, 5, 9]], np.int32)
    out["keras_embedding"] = lambda: case_keras("keras_embedding", keras.Sequential([
        keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3), keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(2, activation="sigmoid")]), [tokens])
    out["keras_embedding_flatten"] = lambda: case_keras("keras_embedding_flatten", keras.Sequential([
        keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3), keras.layers.Flatten(),
        keras.layers.Dense(2, activation="gelu")]), [tokens])
    out["keras_activations"] = lambda: case_keras("keras_activations", keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(6, activation="selu"), keras.layers.Dense(6, activation="softplus"),
        keras.layers.Dense(6, activation="swish"), keras.layers.LeakyReLU(0.2), keras.layers.ReLU(max_value=6.0),
        keras.layers.Dense(4, activation="elu"), keras.layers.Softmax()]), [xi])

    def zero_padding():
        keras.utils.set_random_seed(5)
        return keras.Sequential([
            keras.Input((8, 8, 3)), keras.layers.ZeroPadding2D(((1, 2), (0, 1))), keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.Flatten(), keras.layers.Dense(2)])
    out["keras_zero_padding"] = lambda: case_keras("keras_zero_padding", zero_padding(), [ximg])
    importer_gaps(out, a, ids)
    training_refusals(out)
    training_losses(out, xb, yb, settings)
    global_steps(out, xb, yb)
    two_optimizers(out, xb, yb)
    return out


def training_losses(out, xb, yb, settings):
    """How the loss is found in TensorFlow's gradient subgraph: a loss that is an Identity of a
    sum of two scalars (its seed is read by the sum's gradient, `gradients/add_grad/...`), and a
    loss of unknown shape (the seed is Fill(Shape(loss), 1); minimize sums it)."""
    def identity_loss():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=True)
        b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer(), use_resource=True)
        pred = tf.add(tf.matmul(x, w), b, name="pred")
        loss = tf.identity(tf.reduce_mean(tf.square(pred - y)) + 0.01 * tf.reduce_sum(tf.square(w)), name="loss")
        tf1.train.MomentumOptimizer(0.05, 0.9).minimize(loss, name="train")

    def rowwise_loss():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=False)
        pred = tf.matmul(x, w, name="pred")
        rows = tf.reduce_mean(tf.square(pred - y), axis=1, name="rows")
        tf.reduce_mean(rows, name="loss")
        tf1.train.GradientDescentOptimizer(0.02).minimize(rows, name="train")

    out["v1_identity_loss_momentum"] = lambda: case_v1(
        "v1_identity_loss_momentum", identity_loss, {"x:0": xb, "y:0": yb}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4,
        optimizer=settings["momentum"])
    out["v1_rowwise_loss_sgd"] = lambda: case_v1(
        "v1_rowwise_loss_sgd", rowwise_loss, {"x:0": xb, "y:0": yb}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4,
        optimizer={"kind": "sgd", "learning_rate": 0.02}, minimized="rows:0")


def global_steps(out, xb, yb):
    """minimize(loss, global_step=...): the training operation is the step counter's
    AssignAddVariableOp (int64), run after the updates; learning rates from
    tf.compat.v1.train.exponential_decay of that counter."""
    def model(resource):
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=resource)
        b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer(), use_resource=resource)
        pred = tf.add(tf.matmul(x, w), b, name="pred")
        return tf.reduce_mean(tf.square(pred - y), name="loss")

    decay = {"kind": "exponential", "initial": 0.1, "decay_steps": 2, "decay_rate": 0.5}
    staircase = dict(decay, staircase=True)
    variants = {
        "v1_sgd_global_step_decay": (False, lambda lr: tf1.train.GradientDescentOptimizer(lr), {"kind": "sgd", "learning_rate": 0.1, "schedule": decay}, True),
        "v1_adam_global_step_decay": (True, lambda lr: tf1.train.AdamOptimizer(lr), {"kind": "adam", "learning_rate": 0.1, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "schedule": decay}, True),
        "v1_momentum_global_step": (True, lambda lr: tf1.train.MomentumOptimizer(lr, 0.9), {"kind": "momentum", "learning_rate": 0.05, "momentum": 0.9}, False),
        "v1_sgd_global_step_staircase": (True, lambda lr: tf1.train.GradientDescentOptimizer(lr), {"kind": "sgd", "learning_rate": 0.1, "schedule": staircase}, True),
    }
    for key, (resource, make, settings, decayed) in variants.items():
        def build(resource=resource, make=make, decayed=decayed, settings=settings):
            loss = model(resource)
            step = tf1.train.get_or_create_global_step()
            schedule = settings.get("schedule", {})
            lr = tf1.train.exponential_decay(0.1, step, 2, 0.5, staircase=schedule.get("staircase", False)) if decayed else settings["learning_rate"]
            make(lr).minimize(loss, global_step=step, name="train")
        out[key] = lambda key=key, build=build, settings=settings: case_v1(
            key, build, {"x:0": xb, "y:0": yb}, ["pred:0", "loss:0"], train=("train", "loss:0"), steps=4, optimizer=settings,
            after=["global_step/Read/ReadVariableOp:0"])


def two_optimizers(out, xb, yb):
    """Two minimize calls in one graph (two gradient subgraphs, `gradients` and `gradients_1`),
    each on its own loss and variables, grouped into one training operation."""
    def build():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w1 = tf1.get_variable("w1", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=True)
        w2 = tf1.get_variable("w2", [3, 1], initializer=tf1.constant_initializer([[-0.1], [0.4], [0.0]]), use_resource=False)
        loss1 = tf.reduce_mean(tf.square(tf.matmul(x, w1) - y), name="loss1")
        loss2 = tf.reduce_mean(tf.abs(tf.matmul(x, w2) - y), name="loss2")
        tf.add(loss1, loss2, name="loss")
        tf.group(tf1.train.GradientDescentOptimizer(0.1).minimize(loss1), tf1.train.AdamOptimizer(0.05).minimize(loss2), name="train")

    out["v1_two_optimizers"] = lambda: case_v1(
        "v1_two_optimizers", build, {"x:0": xb, "y:0": yb}, ["loss1:0", "loss2:0", "loss:0"], train=("train", "loss:0"), steps=4)


def training_refusals(out):
    """TF1 training graphs whose update operations do not apply the gradients of one loss as
    optimizer.minimize(loss) writes them: Backprop refuses to rebuild them, naming the node."""
    def model():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [3, 1], initializer=tf1.constant_initializer([[0.1], [0.2], [0.3]]), use_resource=False)
        pred = tf.matmul(x, w, name="pred")
        return w, tf.reduce_mean(tf.square(pred - y), name="loss"), tf.reduce_mean(tf.abs(pred - y), name="loss_abs")

    def clip():
        # Gradient clipping between TensorFlow's gradient and the update.
        w, loss, _ = model()
        opt = tf1.train.GradientDescentOptimizer(0.1)
        pairs = [(tf.clip_by_value(g, -0.5, 0.5), v) for g, v in opt.compute_gradients(loss)]
        opt.apply_gradients(pairs, name="train")

    def two_losses():
        # One gradient subgraph of two losses (two seeds).
        w, loss, loss_abs = model()
        grads = tf.gradients([loss, loss_abs], [w])
        tf1.train.GradientDescentOptimizer(0.1).apply_gradients(zip(grads, [w]), name="train")

    def grad_ys():
        # A custom seed instead of Fill(Shape(loss), 1).
        w, loss, _ = model()
        grads = tf.gradients(loss, [w], grad_ys=[tf.constant(2.0, name="seed")])
        tf1.train.GradientDescentOptimizer(0.1).apply_gradients(zip(grads, [w]), name="train")

    for key, f, node in [("v1_clip_sgd", clip, "train/update_w/ApplyGradientDescent"),
                         ("v1_two_losses", two_losses, "gradients/grad_ys_1"),
                         ("v1_grad_ys", grad_ys, "gradients/grad_ys_0")]:
        def build_refused(f=f, node=node):
            g = tf.Graph()
            with g.as_default():
                f()
            return g.as_graph_def(), {"kind": "refused", "refused": node, "feeds": [], "fetches": []}
        out["refuse_" + key] = build_refused


def importer_gaps(out, a, ids):
    """The importer's gaps closed after the probe: softmax cross entropy with dense labels,
    batched matrix products, Range, Any/All, TruncateDiv, int32 arithmetic that wraps as
    TensorFlow's does, StridedSlice with `...` and tf.newaxis; and a softmax regression trained
    with tf.nn.softmax_cross_entropy_with_logits."""
    rng = np.random.RandomState(36)
    big = lambda: tf.constant([2147483647, -2147483648, 123456789, -987654321, 65536, 46341], tf.int32)
    w = rng.randn(3, 5).astype(np.float32)

    def xent_outputs(x, i):
        loss, backprop = tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=x[0], labels=tf.nn.softmax(x[1] * 2.0), name="xent")
        return loss[:, tf.newaxis] * 2.0 + backprop
    single = {
        "softmax_xent_outputs": xent_outputs,
        "softmax_xent_broadcast_labels": lambda x, i: tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=x[0], labels=tf.constant([[0.25, 0.25, 0.5, 0.0]]))[0],
        "batch_matmul_broadcast": lambda x, i: tf.matmul(x, tf.constant(w), adjoint_a=True),
        "batch_matmul_v1": lambda x, i: tf.raw_ops.BatchMatMul(x=x, y=x * 0.5, adj_x=True),
        "batch_matmul_v3": lambda x, i: tf.raw_ops.BatchMatMulV3(x=x, y=x[:1] - 1.0, Tout=tf.float32, adj_y=True),
        "range_float": lambda x, i: tf.range(0.1, 1.0, 0.1) + tf.cast(tf.range(10, 1, -1), tf.float32),
        "range_float64": lambda x, i: tf.cast(tf.range(tf.constant(-1.0, tf.float64), 2.0, 0.3), tf.float32),
        "range_transpose": lambda x, i: tf.transpose(x, tf.range(2, -1, -1)),
        "reduce_all": lambda x, i: tf.reduce_all(x > -1.0, axis=[0, 2], keepdims=True),
        "reduce_any_all_axes": lambda x, i: tf.logical_and(tf.reduce_any(x > 2.0), tf.reduce_all(tf.abs(x) < 5.0)),
        "truncatediv_float": lambda x, i: tf.truncatediv(x * 5.0, 1.5),
        "int_wrap_add_sub": lambda x, i: tf.concat([big() + 7, big() - 9, -big(), tf.abs(big())], 0),
        "int_wrap_mul": lambda x, i: tf.concat([big() * 65537, big() * -3, tf.square(big()), big() * big()], 0),
        "int_wrap_sum": lambda x, i: tf.stack([tf.reduce_sum(big()), tf.reduce_sum(tf.fill([4], 2147483647))]),
        "int_mean_negative": lambda x, i: tf.reduce_mean(tf.constant([[-7, 2], [-3, -4], [5, 0]]) * i - 1, axis=1),
        "int_floordiv_mod_negative": lambda x, i: tf.concat([big() // tf.constant([7, -7, 3, -5, -1, 1000]), big() % tf.constant([7, -7, 3, -5, -1, 1000]), tf.constant([-2147483648]) // -1], 0),
        "int_truncatediv_negative": lambda x, i: tf.truncatediv(big(), tf.constant([7, -7, 3, -5, -1, 1000])),
        "int_pow_wrap": lambda x, i: tf.concat([tf.pow(big(), 3), tf.pow(i[:, 0] - 2, 0), tf.pow(i[:, 1] + 1000, 5)], 0),
        "strided_ellipsis_middle": lambda x, i: x[1, ..., ::-2],
        "strided_ellipsis_newaxis": lambda x, i: x[..., tf.newaxis, 0],
        "strided_newaxis_many": lambda x, i: x[tf.newaxis, ..., tf.newaxis, 1:],
        "strided_ellipsis_only": lambda x, i: x[...] * 2.0,
        "strided_newaxis_shrink": lambda x, i: x[0, tf.newaxis, 1:, tf.newaxis, -1],
    }
    for key, f in single.items():
        def build(f=f):
            x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
            i = tf1.placeholder(tf.int32, [3, 2], name="i")
            tf.identity(f(x, i), name="out")
        out["op_" + key] = lambda key=key, build=build: case_v1(key, build, {"x:0": a, "i:0": ids}, ["out:0"])

    # A batched product whose second operand (w, broadcast over the batch) is fed: its gradient
    # (TensorFlow's, from tf.gradients, in the json's "gradients") sums over the batch.
    def batch_matmul_gradient():
        g = tf.Graph()
        with g.as_default():
            x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
            wp = tf1.placeholder(tf.float32, [3, 5], name="w")
            out_t = tf.identity(tf.matmul(x, wp, adjoint_a=True), name="out")
        gd = g.as_graph_def()
        with g.as_default():
            dx, dw = tf.gradients(tf.reduce_sum(out_t * out_t), [x, wp])
        values, _ = run_v1(g, {"x:0": a, "w:0": w}, ["out:0", dx.name, dw.name])
        meta = {"kind": "compat.v1", "note": "gradients of sum(out²)", "feeds": [array("x:0", a), array("w:0", w)],
                "fetches": [array("out:0", values[0])], "gradients": [array("x:0", values[1]), array("w:0", values[2])]}
        return gd, meta
    out["op_batch_matmul_gradient"] = batch_matmul_gradient

    refusals = {
        "range_huge": (lambda: tf.identity(tf.range(0, 2147483647, 1, name="range"), name="out"), "range"),
        "range_runtime": (lambda: tf.identity(tf.range(tf1.placeholder(tf.int32, [], name="n"), name="range"), name="out"), "range"),
        "int_pow_runtime": (lambda: tf.pow(tf1.placeholder(tf.int32, [2], name="x"), tf1.placeholder(tf.int32, [], name="e"), name="pow"), "pow"),
    }
    for key, (f, node) in refusals.items():
        def build_refused(f=f, key=key, node=node):
            g = tf.Graph()
            with g.as_default():
                f()
            return g.as_graph_def(), {"kind": "refused", "refused": node, "feeds": [], "fetches": []}
        out["refuse_" + key] = build_refused

    # int32 division by a fed divisor: TensorFlow's values for divisors without a zero (negative
    # operands, INT32_MIN by -1), and its run-time error for a divisor holding 0, which the
    # json's "raises" records (the node, TensorFlow's error class and message, the feeds):
    # Backprop must import the graph and fail that run naming the node, never give a value.
    xs_int = np.array([7, -7, 7, -7, 0, -2147483648, 2147483647, 5], np.int32)
    divisors = {"floordiv": tf.math.floordiv, "floormod": tf.math.floormod, "truncatediv": tf.truncatediv,
                "div": lambda x, y, name: tf.raw_ops.Div(x=x, y=y, name=name)}
    for node, f in divisors.items():
        def int_division(node=node, f=f):
            g = tf.Graph()
            with g.as_default():
                x = tf1.placeholder(tf.int32, [None], name="x")
                y = tf1.placeholder(tf.int32, [None], name="y")
                tf.identity(f(x, y, name=node), name="out")
            feeds = {"x:0": xs_int, "y:0": np.array([2, 2, -2, -2, 3, -1, -1, -3], np.int32)}
            zero = {"x:0": xs_int, "y:0": np.array([2, 2, 0, -2, 3, -1, -1, -3], np.int32)}
            values, _ = run_v1(g, feeds, ["out:0"], init=False)
            try:
                run_v1(g, zero, ["out:0"], init=False)
                raise AssertionError(f"TensorFlow gave a value for {node} by zero")
            except tf.errors.OpError as e:
                # The line after "Node: '<name>'" ("Integer division by zero"; TruncateDiv's
                # kernel reports "Unexpected error in binary operator ...").
                lines = [l.strip() for l in e.message.splitlines() if l.strip()]
                message = next((lines[k + 1] for k, l in enumerate(lines[:-1]) if l.startswith("Node: ")), lines[0])
                raised = {"node": node, "fetch": "out:0", "error": type(e).__name__, "message": message,
                          "feeds": [array(k, v) for k, v in zero.items()]}
            return g.as_graph_def(), {"kind": "compat.v1", "note": "raises at run time for a zero divisor",
                                      "feeds": [array(k, v) for k, v in feeds.items()],
                                      "fetches": [array("out:0", values[0])], "raises": raised}
        out["raise_int_" + node + "_zero"] = int_division

    # TF1's softmax regression: a batch of unknown size, one-hot labels,
    # tf.nn.softmax_cross_entropy_with_logits averaged, plain gradient descent.
    xs = rng.randn(8, 4).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[rng.randint(0, 3, 8)]

    def softmax_regression():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        y = tf1.placeholder(tf.float32, [None, 3], name="y")
        wv = tf1.get_variable("w", [4, 3], initializer=tf1.constant_initializer(rng.randn(4, 3).astype(np.float32) * 0.1), use_resource=False)
        b = tf1.get_variable("b", [3], initializer=tf1.zeros_initializer(), use_resource=False)
        logits = tf.add(tf.matmul(x, wv), b, name="logits")
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
        tf1.train.GradientDescentOptimizer(0.5).minimize(loss, name="train")
    out["v1_softmax_regression"] = lambda: case_v1(
        "v1_softmax_regression", softmax_regression, {"x:0": xs, "y:0": ys}, ["logits:0", "loss:0"], train=("train", "loss:0"), steps=5,
        optimizer={"kind": "sgd", "learning_rate": 0.5})


def deterministic(gd):
    """TensorFlow numbers each custom gradient it registers (`_gradient_op_type`
    "CustomGradient-1899"), a count of the process's history: one fixed name instead."""
    for n in gd.node:
        if "_gradient_op_type" in n.attr:
            n.attr["_gradient_op_type"].s = b"CustomGradient"
    return gd


def export(directory, names):
    os.makedirs(directory, exist_ok=True)
    all_cases = cases()
    for name in names or sorted(all_cases):
        gd, meta, *forward = all_cases[name]()
        if forward:
            with open(os.path.join(directory, name + "_forward.pb"), "wb") as f:
                f.write(forward[0].SerializeToString(deterministic=True))
        meta["tensorflow"] = tf.__version__
        meta["ops"] = sorted({n.op for n in gd.node})
        with open(os.path.join(directory, name + ".pb"), "wb") as f:
            f.write(deterministic(gd).SerializeToString(deterministic=True))
        with open(os.path.join(directory, name + ".json"), "w") as f:
            json.dump(meta, f)
        print(f"{name}: {len(gd.node)} nodes, ops {', '.join(meta['ops'])}")


def export_checkpoint(directory):
    export_one_checkpoint(directory, "model.ckpt", "checkpoint.json", steps=3, decayed=True)
    # Long enough for TensorFlow's beta1_power (0.9^(t+1)) to underflow float32 to 0: the step
    # count is then read from beta2_power.
    export_one_checkpoint(directory, "long.ckpt", "long.json", steps=1000, decayed=False)


def export_one_checkpoint(directory, prefix, meta_name, steps, decayed):
    """A TF1 training graph (Adam on reference variables, a global step, an exponentially
    decayed learning rate, or a constant one) trained `steps` steps by TensorFlow and saved with
    tf.compat.v1.train.Saver (DIR/<prefix>.index and .data-00000-of-00001), then 3 more steps:
    the graph (graph.pb, long.pb), and a json with the batch, the losses of the 3 steps after
    the save, and the values of every variable at the save. Backprop imports the graph, restores the checkpoint and
    must give those losses (CheckpointTests)."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.RandomState(12)
    xb = rng.randn(8, 3).astype(np.float32)
    yb = (xb @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(1)
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        w = tf1.get_variable("w", [3, 1], initializer=tf1.glorot_uniform_initializer(), use_resource=False)
        b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer(), use_resource=False)
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="loss")
        step = tf1.train.get_or_create_global_step()
        lr = tf1.train.exponential_decay(0.1, step, 4, 0.5) if decayed else 0.01
        tf1.train.AdamOptimizer(lr).minimize(loss, global_step=step, name="train")
        init = tf1.global_variables_initializer()
        saver = tf1.train.Saver()
    feeds = {"x:0": xb, "y:0": yb}
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        fd = {g.get_tensor_by_name(k): v for k, v in feeds.items()}
        for _ in range(steps):
            sess.run(g.get_operation_by_name("train"), fd)
        saver.save(sess, os.path.join(directory, prefix), write_meta_graph=False, write_state=False)
        saved = {v.op.name: sess.run(v) for v in tf1.global_variables()}
        losses = []
        for _ in range(3):
            l, _ = sess.run([g.get_tensor_by_name("loss:0"), g.get_operation_by_name("train")], fd)
            losses.append(float(l))
    graph_name = prefix.split(".")[0] + ".pb" if prefix != "model.ckpt" else "graph.pb"
    with open(os.path.join(directory, graph_name), "wb") as f:
        f.write(g.as_graph_def().SerializeToString(deterministic=True))
    meta = {"tensorflow": tf.__version__, "graph": graph_name, "prefix": prefix, "steps": steps,
            "feeds": [array(k, v) for k, v in feeds.items()], "train": "train", "loss": "loss:0",
            "losses_after_restore": losses, "saved": [array(k, v) for k, v in sorted(saved.items())]}
    with open(os.path.join(directory, meta_name), "w") as f:
        json.dump(meta, f)
    print(f"{directory}: saved {sorted(saved)}; losses after the save {losses}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "export-checkpoint":
        export_checkpoint(sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "Tests", "Fixtures", "graphdef", "tf_checkpoint"))
    elif len(sys.argv) >= 2 and sys.argv[1] == "export":
        export(sys.argv[2] if len(sys.argv) > 2 else DEFAULT, sys.argv[3:])
    else:
        print(__doc__)
        sys.exit(2)
