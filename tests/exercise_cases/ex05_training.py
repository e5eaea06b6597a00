"""05-training: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, combine, replace, substitute

ASSIGNMENT = "05-training"

_SHIFTED_EXP = "exp = np.exp(logits - logits.max(axis=1, keepdims=True))"
_CE_LOSS = "loss = np.mean(log_sum - shifted[rows, labels])"
_MASK = "mask = generator.random(x.shape) < p_keep"
_VELOCITY = "new_velocity = momentum * np.asarray(velocity) + np.asarray(grad)"
_BIAS_CORRECTION = ("    m_hat = new_m / (1 - beta1 ** t)\n"
                    "    v_hat = new_v / (1 - beta2 ** t)")
_OPTIMIZER = "optimizer = AdamOptimizer(model.parameters(), lr=0.01)"

WRONG = {
    # 1. softmax
    "softmax-without-shift": Case(replace("softmax", _SHIFTED_EXP, "exp = np.exp(logits)"),
                                  frozenset({"test_softmax"}), "overflows for large logits"),
    "softmax-down-the-columns": Case(
        replace("softmax", _SHIFTED_EXP + "\n    return exp / exp.sum(axis=1, keepdims=True)",
                "exp = np.exp(logits - logits.max(axis=0, keepdims=True))\n"
                "    return exp / exp.sum(axis=0, keepdims=True)"),
        frozenset({"test_softmax"}), "normalises each column instead of each row"),
    "softmax-list": Case(replace("softmax", "return exp / exp.sum(axis=1, keepdims=True)",
                                 "return (exp / exp.sum(axis=1, keepdims=True)).tolist()"),
                         frozenset({"test_softmax"}), "a list instead of an array"),
    "softmax-course-reference": Case(substitute("softmax", "\n".join([
        "import importlib",
        "",
        "def softmax(logits):",
        "    losses = importlib.import_module('cnncourse.scratch.' + 'losses')",
        "    return getattr(losses, 'soft' + 'max')(np.asarray(logits, dtype=float))",
    ])), frozenset({"test_softmax"}), "the course's own softmax reached through importlib"),
    "softmax-shifts-its-input": Case(
        replace("softmax", _SHIFTED_EXP,
                "logits -= logits.max(axis=1, keepdims=True)\n    exp = np.exp(logits)"),
        frozenset({"test_softmax"}), "subtracts the maximum from the caller's array in place"),
    # 2. softmax cross-entropy
    "cross-entropy-log-of-softmax": Case(
        replace("softmax_cross_entropy", _CE_LOSS,
                "loss = -np.mean(np.log(softmax(logits)[rows, labels]))"),
        frozenset({"test_softmax_cross_entropy"}), "log of a probability that underflows to 0"),
    "cross-entropy-gradient-not-averaged": Case(
        replace("softmax_cross_entropy", "return loss, dlogits / n", "return loss, dlogits"),
        frozenset({"test_softmax_cross_entropy"}), "the gradient of the sum, not of the mean"),
    "cross-entropy-summed": Case(
        replace("softmax_cross_entropy", _CE_LOSS, "loss = np.sum(log_sum - shifted[rows, labels])"),
        frozenset({"test_softmax_cross_entropy"}), "the loss summed over the batch instead of averaged"),
    "cross-entropy-torch": Case(substitute("softmax_cross_entropy", "\n".join([
        "import torch.nn.functional as tf",
        "import torch",
        "",
        "def softmax_cross_entropy(logits, labels):",
        "    z = torch.tensor(np.asarray(logits, dtype=float), requires_grad=True)",
        "    loss = tf.cross_entropy(z, torch.as_tensor(np.asarray(labels)))",
        "    loss.backward()",
        "    return loss.item(), z.grad.numpy()",
    ])), frozenset({"test_softmax_cross_entropy"}), "torch.nn.functional.cross_entropy under an alias"),
    # 3. dropout
    "dropout-not-scaled": Case(replace("dropout_forward", "return x * mask / p_keep, mask",
                                       "return x * mask, mask"),
                               frozenset({"test_dropout_forward"}), "kept units not divided by p_keep"),
    "dropout-drop-probability": Case(replace("dropout_forward", _MASK,
                                             "mask = generator.random(x.shape) < 1 - p_keep"),
                                     frozenset({"test_dropout_forward"}), "p_keep used as the drop probability"),
    "dropout-ignores-rng": Case(replace("dropout_forward", "generator = np.random.default_rng(rng)",
                                        "generator = np.random.default_rng()"),
                                frozenset({"test_dropout_forward"}), "a fresh generator instead of the given seed"),
    "dropout-backward-not-scaled": Case(
        replace("dropout_backward", "return dout * (np.asarray(mask) != 0) / p_keep",
                "return dout * (np.asarray(mask) != 0)"),
        frozenset({"test_dropout_backward"}), "the gradient not divided by p_keep"),
    # 4. momentum
    "momentum-averaged-velocity": Case(
        replace("momentum_step", _VELOCITY,
                "new_velocity = momentum * np.asarray(velocity) + (1 - momentum) * np.asarray(grad)"),
        frozenset({"test_momentum_step"}), "an exponential average instead of the course's velocity"),
    "momentum-in-place": Case(substitute("momentum_step", "\n".join([
        "def momentum_step(param, grad, velocity, lr, momentum=0.9):",
        "    velocity *= momentum",
        "    velocity += grad",
        "    return param - lr * velocity, velocity",
    ])), frozenset({"test_momentum_step"}), "updates the caller's velocity in place"),
    # 5. Adam
    "adam-without-bias-correction": Case(
        replace("adam_step", _BIAS_CORRECTION, "    m_hat = new_m\n    v_hat = new_v"),
        frozenset({"test_adam_step"}), "no bias correction"),
    "adam-in-place": Case(substitute("adam_step", "\n".join([
        "def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):",
        "    m *= beta1",
        "    m += (1 - beta1) * grad",
        "    v *= beta2",
        "    v += (1 - beta2) * grad * grad",
        "    m_hat = m / (1 - beta1 ** t)",
        "    v_hat = v / (1 - beta2 ** t)",
        "    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v",
    ])), frozenset({"test_adam_step"}), "updates the caller's m and v in place"),
    # 6. training
    "train-too-little": Case(
        combine(replace("train_digits", _OPTIMIZER, "optimizer = AdamOptimizer(model.parameters(), lr=1e-4)"),
                replace("train_digits", "epochs=12", "epochs=1")),
        frozenset({"test_train_digits"}), "one epoch at a tiny learning rate"),
    "train-with-course-optimizer": Case(
        replace("train_digits", _OPTIMIZER,
                "from cnncourse.scratch.optim import Adam\n"
                "    optimizer = Adam(model.parameters(), lr=0.01)"),
        frozenset({"test_train_digits"}), "the course's Adam instead of the student's"),
    "train-with-course-loss": Case(
        replace("train_digits", "fit(model, SoftmaxCrossEntropyLoss(), optimizer",
                "fit(model, __import__('importlib').import_module('cnncourse.scratch.losses').CrossEntropyLoss(), "
                "optimizer"),
        frozenset({"test_train_digits"}), "the course's loss reached through importlib"),
    "train-returns-predictions": Case(
        replace("train_digits", "    return model", "    return model.forward(x_train)"),
        frozenset({"test_train_digits"}), "returns outputs instead of the network"),
}

CORRECT = {
    "log-sum-exp-with-logaddexp": Case(substitute("softmax_cross_entropy", "\n".join([
        "def softmax_cross_entropy(logits, labels):",
        "    z = np.asarray(logits, dtype=float)",
        "    rows = np.arange(len(z))",
        "    log_probs = z - np.logaddexp.reduce(z, axis=1, keepdims=True)",
        "    grad = np.exp(log_probs)",
        "    grad[rows, labels] -= 1.0",
        "    return -log_probs[rows, labels].mean(), grad / len(z)",
    ]))),
    "float32": Case(combine(
        replace("softmax", "logits = np.asarray(logits)", "logits = np.asarray(logits, dtype=np.float32)"),
        replace("softmax_cross_entropy", "logits = np.asarray(logits)",
                "logits = np.asarray(logits, dtype=np.float32)"),
        replace("dropout_forward", "x = np.asarray(x)", "x = np.asarray(x, dtype=np.float32)"),
        replace("dropout_backward", "dout = np.asarray(dout)", "dout = np.asarray(dout, dtype=np.float32)"),
    )),
    "adam-step-size-form": Case(substitute("adam_step", "\n".join([
        "def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):",
        "    new_m = beta1 * m + (1 - beta1) * grad",
        "    new_v = beta2 * v + (1 - beta2) * np.square(grad)",
        "    correction = np.sqrt(1 - beta2 ** t)",
        "    step_size = lr * correction / (1 - beta1 ** t)",
        "    return param - step_size * new_m / (np.sqrt(new_v) + eps * correction), new_m, new_v",
    ]))),
    "binomial-dropout-mask": Case(substitute("dropout_forward", "\n".join([
        "def dropout_forward(x, p_keep, rng):",
        "    x = np.asarray(x, dtype=float)",
        "    mask = np.random.default_rng(rng).binomial(1, p_keep, size=x.shape)",
        "    return np.where(mask == 1, x / p_keep, 0.0), mask",
    ]))),
    "library-like-helper-names": Case(substitute("softmax", "\n".join([
        "def logsumexp(z):",
        "    top = z.max(axis=1, keepdims=True)",
        "    return top + np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))",
        "",
        "def softmax(logits):",
        "    z = np.asarray(logits, dtype=float)",
        "    return np.exp(z - logsumexp(z))",
    ]))),
    "trained-with-momentum": Case(combine(
        replace("train_digits", "class AdamOptimizer:", "\n".join([
            "class MomentumOptimizer:",
            "    def __init__(self, params, lr, momentum=0.9):",
            "        self.params, self.lr, self.momentum = list(params), lr, momentum",
            "        self.velocities = [np.zeros_like(p.data) for p in self.params]",
            "",
            "    def zero_grad(self):",
            "        for p in self.params:",
            "            p.grad.fill(0)",
            "",
            "    def step(self):",
            "        for i, p in enumerate(self.params):",
            "            p.data[...], self.velocities[i] = momentum_step(p.data, p.grad, self.velocities[i],",
            "                                                            self.lr, self.momentum)",
            "",
            "",
            "class AdamOptimizer:",
        ])),
        replace("train_digits", _OPTIMIZER, "optimizer = MomentumOptimizer(model.parameters(), lr=0.1)"),
    )),
}
