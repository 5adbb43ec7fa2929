#!/usr/bin/env python3
"""Reference trajectories for Backprop's optimizers (Sources/Training/Optimizers.swift).

An implementation independent of the Swift code, written straight from the published update
rules and the TF1 / Keras documentation, in NumPy float64 only. It runs every optimizer (and
variant, schedule and clipping case) for 10 steps on a fixed problem and prints Swift source
with the variables' values after each step:

    python3 Scripts/reference/optimizers.py > Tests/TrainingTests/OptimizerReferenceValues.swift

The problem:  loss = sum((w * x - y)**2) + sum((M @ u - z)**2)
with w of shape [3] and M of shape [2, 2]; the gradients are derived by hand:
    dL/dw = 2 (w*x - y) * x          dL/dM = 2 (M u - z) u^T

Sources of the formulas:
- Momentum: TF1 tf.compat.v1.train.MomentumOptimizer docs: accumulation = momentum *
  accumulation + gradient; variable -= learning_rate * accumulation; Nesterov:
  variable -= learning_rate * (gradient + momentum * accumulation).
- Adagrad: TF1 AdagradOptimizer (Duchi et al. 2011): accum += g^2; var -= lr * g / sqrt(accum),
  initial_accumulator_value = 0.1.
- RMSProp: TF1 RMSPropOptimizer docs: ms = decay*ms + (1-decay)*g^2; mom = momentum*mom +
  lr*g/sqrt(ms + eps); var -= mom; centered: mg = decay*mg + (1-decay)*g and the
  denominator is sqrt(ms - mg^2 + eps). The mean square starts at 1 (TF1 source, rmsprop.py).
- Adam: TF1 AdamOptimizer docs (Kingma & Ba, formulation before section 2.1):
  lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  var -= lr_t * m / (sqrt(v) + eps).
- AdamW: Keras 3 AdamW: var -= var * weight_decay * lr, then the Adam step (Loshchilov & Hutter).
- Schedules: TF1 exponential_decay, piecewise_constant; Keras 3 CosineDecay with warm-up.
  The step is the number of updates already made (0 for the first update).
- Clipping: tf.clip_by_global_norm docs: t * clip_norm / max(global_norm, clip_norm).
"""
import math
import numpy as np

STEPS = 10
X = np.array([1.0, -2.0, 0.5])
Y = np.array([0.3, 1.1, -0.7])
W0 = np.array([0.5, -0.3, 0.8])
U = np.array([[0.5], [-1.5]])
Z = np.array([[1.0], [0.2]])
M0 = np.array([[0.1, -0.2], [0.4, 0.3]])


def grads(w, m):
    gw = 2.0 * (w * X - Y) * X
    gm = 2.0 * (m @ U - Z) @ U.T
    return [gw, gm]


# ---- learning-rate schedules: step -> rate ----

def constant(lr):
    return lambda step: lr


def exponential_decay(initial, decay_steps, decay_rate, staircase):
    def f(step):
        p = step / decay_steps
        if staircase:
            p = math.floor(p)
        return initial * decay_rate ** p
    return f


def piecewise_constant(boundaries, values):
    def f(step):
        for b, v in zip(boundaries, values):
            if step <= b:
                return v
        return values[-1]
    return f


def cosine_decay(initial, decay_steps, alpha, warmup_steps, warmup_start):
    def f(step):
        if step < warmup_steps:
            return warmup_start + (initial - warmup_start) * (step / warmup_steps)
        s = min(step - warmup_steps, decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / decay_steps))
        return initial * ((1.0 - alpha) * cosine + alpha)
    return f


# ---- optimizers: each is (init(params) -> state, step(params, grads, state, lr, t)) ----

class SGD:
    def init(self, params):
        return None

    def step(self, params, gs, state, lr, t):
        for p, g in zip(params, gs):
            p -= lr * g


class Momentum:
    def __init__(self, momentum, nesterov=False):
        self.mu, self.nesterov = momentum, nesterov

    def init(self, params):
        return [np.zeros_like(p) for p in params]

    def step(self, params, gs, acc, lr, t):
        for p, g, a in zip(params, gs, acc):
            a[...] = self.mu * a + g
            if self.nesterov:
                p -= lr * (g + self.mu * a)
            else:
                p -= lr * a


class Adagrad:
    def __init__(self, initial=0.1):
        self.initial = initial

    def init(self, params):
        return [np.full_like(p, self.initial) for p in params]

    def step(self, params, gs, acc, lr, t):
        for p, g, a in zip(params, gs, acc):
            a += g * g
            p -= lr * g / np.sqrt(a)


class RMSProp:
    def __init__(self, decay=0.9, momentum=0.0, eps=1e-10, centered=False):
        self.decay, self.mu, self.eps, self.centered = decay, momentum, eps, centered

    def init(self, params):
        return [(np.ones_like(p), np.zeros_like(p), np.zeros_like(p)) for p in params]

    def step(self, params, gs, state, lr, t):
        for p, g, (ms, mg, mom) in zip(params, gs, state):
            ms[...] = self.decay * ms + (1.0 - self.decay) * g * g
            if self.centered:
                mg[...] = self.decay * mg + (1.0 - self.decay) * g
                denom = ms - mg * mg + self.eps
            else:
                denom = ms + self.eps
            mom[...] = self.mu * mom + lr * g / np.sqrt(denom)
            p -= mom


class Adam:
    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay

    def init(self, params):
        return [(np.zeros_like(p), np.zeros_like(p)) for p in params]

    def step(self, params, gs, state, lr, t):
        lr_t = lr * math.sqrt(1.0 - self.b2 ** t) / (1.0 - self.b1 ** t)
        for p, g, (m, v) in zip(params, gs, state):
            if self.wd:
                p -= p * (self.wd * lr)
            m[...] = self.b1 * m + (1.0 - self.b1) * g
            v[...] = self.b2 * v + (1.0 - self.b2) * g * g
            p -= lr_t * m / (np.sqrt(v) + self.eps)


def clip_by_global_norm(gs, clip_norm):
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
    scale = clip_norm / max(norm, clip_norm)
    return [g * scale for g in gs], norm


CASES = [
    # name, optimizer, schedule, clip norm
    ("gradientDescent", SGD(), constant(0.05), None),
    ("momentum", Momentum(0.9), constant(0.05), None),
    ("nesterov", Momentum(0.9, nesterov=True), constant(0.05), None),
    ("adagrad", Adagrad(0.1), constant(0.1), None),
    ("rmsprop", RMSProp(decay=0.9, momentum=0.0, eps=1e-10), constant(0.01), None),
    ("rmspropCenteredMomentum", RMSProp(decay=0.9, momentum=0.5, eps=1e-7, centered=True), constant(0.01), None),
    ("adam", Adam(0.9, 0.999, 1e-8), constant(0.1), None),
    ("adamW", Adam(0.9, 0.999, 1e-8, weight_decay=0.1), constant(0.1), None),
    ("exponentialDecay", SGD(), exponential_decay(0.1, 3, 0.5, False), None),
    ("exponentialDecayStaircase", SGD(), exponential_decay(0.1, 3, 0.5, True), None),
    ("piecewiseConstant", Momentum(0.9), piecewise_constant([3, 6], [0.1, 0.05, 0.01]), None),
    ("cosineDecayWarmup", Adam(0.9, 0.999, 1e-8), cosine_decay(0.1, 5, 0.1, 3, 0.0), None),
    ("clippedGradientDescent", SGD(), constant(0.1), 1.0),
    ("clippedAdam", Adam(0.9, 0.999, 1e-8), constant(0.1), 2.0),
]


def run(opt, schedule, clip):
    params = [W0.copy(), M0.copy()]
    state = opt.init(params)
    ws, ms, rates, norms = [], [], [], []
    for step in range(STEPS):
        gs = grads(*params)
        if clip is not None:
            gs, norm = clip_by_global_norm(gs, clip)
            norms.append(norm)
        lr = schedule(step)
        rates.append(lr)
        opt.step(params, gs, state, lr, step + 1)
        ws.append(params[0].tolist())
        ms.append(params[1].reshape(-1).tolist())
    return ws, ms, rates, norms


def swift_list(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def main():
    out = []
    out.append("// Generated by Scripts/reference/optimizers.py (NumPy %s, float64). Do not edit." % np.__version__)
    out.append("// python3 Scripts/reference/optimizers.py > Tests/TrainingTests/OptimizerReferenceValues.swift")
    out.append("")
    out.append("/// Expected values of the reference problem's variables after each of 10 steps.")
    out.append("enum OptimizerReference {")
    out.append("  /// One optimizer configuration's trajectory.")
    out.append("  struct Trajectory {")
    out.append("    /// `w` (shape [3]) after each step.")
    out.append("    let w: [[Double]]")
    out.append("    /// `M` (shape [2, 2], row-major) after each step.")
    out.append("    let m: [[Double]]")
    out.append("    /// The learning rate used at each step.")
    out.append("    let learningRates: [Double]")
    out.append("    /// The global gradient norm before clipping at each step (clipping cases only).")
    out.append("    let globalNorms: [Double]")
    out.append("  }")
    out.append("  static let x: [Double] = " + swift_list(X))
    out.append("  static let y: [Double] = " + swift_list(Y))
    out.append("  static let w0: [Double] = " + swift_list(W0))
    out.append("  static let u: [Double] = " + swift_list(U.reshape(-1)))
    out.append("  static let z: [Double] = " + swift_list(Z.reshape(-1)))
    out.append("  static let m0: [Double] = " + swift_list(M0.reshape(-1)))
    for name, opt, schedule, clip in CASES:
        ws, ms, rates, norms = run(opt, schedule, clip)
        out.append("  static let %s = Trajectory(" % name)
        out.append("    w: [")
        out.extend("      " + swift_list(r) + "," for r in ws)
        out.append("    ],")
        out.append("    m: [")
        out.extend("      " + swift_list(r) + "," for r in ms)
        out.append("    ],")
        out.append("    learningRates: " + swift_list(rates) + ",")
        out.append("    globalNorms: " + swift_list(norms) + ")")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
