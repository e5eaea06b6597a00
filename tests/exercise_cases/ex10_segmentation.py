"""10-segmentation: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, replace, substitute

ASSIGNMENT = "10-segmentation"

_RAISE = ("        raise ValueError(f\"predictions and targets must have the same shape, got {predictions.shape} \"\n"
          "                         f\"and {targets.shape}\")\n")
_PAIRS = ("pairs = targets.reshape(-1).astype(np.int64) * num_classes + "
          "predictions.reshape(-1).astype(np.int64)")
_UNION = "union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits"
_MEAN = "return float(np.nanmean(iou_per_class(confusion_matrix(predictions, targets, num_classes))))"

WRONG = {
    # 1. confusion matrix
    "cm-transposed": Case(replace("confusion_matrix", _PAIRS,
                                  "pairs = predictions.reshape(-1).astype(np.int64) * num_classes + "
                                  "targets.reshape(-1).astype(np.int64)"),
                          frozenset({"test_confusion_matrix"}), "rows are the predicted classes"),
    "cm-no-shape-check": Case(replace("confusion_matrix", "    if predictions.shape != targets.shape:\n" + _RAISE, ""),
                              frozenset({"test_confusion_matrix"}), "no ValueError for different shapes"),
    "cm-list": Case(replace("confusion_matrix", "return np.bincount(pairs, minlength=num_classes * num_classes)"
                                                ".reshape(num_classes, num_classes)",
                            "return np.bincount(pairs, minlength=num_classes * num_classes)"
                            ".reshape(num_classes, num_classes).tolist()"),
                    frozenset({"test_confusion_matrix"}), "a list of lists instead of an array"),
    "cm-sklearn": Case(substitute("confusion_matrix", "\n".join([
        "import importlib",
        "",
        "def confusion_matrix(predictions, targets, num_classes):",
        "    if np.shape(predictions) != np.shape(targets):",
        "        raise ValueError('shapes differ')",
        "    tools = importlib.import_module('sklearn.' + 'metrics')",
        "    return tools.confusion_matrix(np.ravel(targets), np.ravel(predictions), labels=list(range(num_classes)))",
    ])), frozenset({"test_confusion_matrix"}), "scikit-learn's confusion_matrix through importlib"),
    # 2. IoU per class
    "iou-recall": Case(replace("iou_per_class", _UNION, "union = confusion.sum(axis=1)"),
                       frozenset({"test_iou_per_class"}), "TP / (TP + FN) instead of the IoU"),
    "iou-zero-for-absent": Case(replace("iou_per_class", "iou = np.full(len(hits), np.nan)", "iou = np.zeros(len(hits))"),
                                frozenset({"test_iou_per_class"}), "0 instead of NaN for a class with no pixels"),
    # 3. mean IoU
    "miou-nan-as-zero": Case(replace("mean_iou", _MEAN,
                                     "return float(np.mean(np.nan_to_num(iou_per_class(confusion_matrix("
                                     "predictions, targets, num_classes)))))"),
                             frozenset({"test_mean_iou"}), "absent classes counted as IoU 0"),
    "miou-per-image": Case(substitute("mean_iou", "\n".join([
        "def mean_iou(predictions, targets, num_classes):",
        "    predictions, targets = np.asarray(predictions), np.asarray(targets)",
        "    if predictions.ndim < 3:",
        "        return float(np.nanmean(iou_per_class(confusion_matrix(predictions, targets, num_classes))))",
        "    return float(np.mean([np.nanmean(iou_per_class(confusion_matrix(p, t, num_classes)))",
        "                          for p, t in zip(predictions, targets)]))",
    ])), frozenset({"test_mean_iou"}), "the mean of per-image mIoUs"),
    "miou-course": Case(substitute("mean_iou", "\n".join([
        "def mean_iou(predictions, targets, num_classes):",
        "    from cnncourse import metrics as m",
        "    return m.mean_iou(np.asarray(predictions), np.asarray(targets), num_classes)",
    ])), frozenset({"test_mean_iou"}), "the course's mean_iou"),
    # 4. training
    "train-one-epoch": Case(replace("train_segmenter", "def train_segmenter(x_train, y_train, epochs=8, seed=0):",
                                    "def train_segmenter(x_train, y_train, epochs=1, seed=0):"),
                            frozenset({"test_train_segmenter"}), "stops after one epoch"),
    "train-one-score": Case(replace("train_segmenter", "self.classifier = nn.Conv2d(8, 2, 1)",
                                    "self.classifier = nn.Conv2d(8, 1, 1)"),
                            frozenset({"test_train_segmenter"}), "one output channel for two classes"),
    "train-returns-tuple": Case(replace("train_segmenter", "return model.eval()", "return model.eval(), optimizer"),
                                frozenset({"test_train_segmenter"}), "returns the model and the optimizer"),
    "train-course-unet": Case(substitute("train_segmenter", "\n".join([
        "from cnncourse.models.segmentation import UNet as Network",
        "",
        "def train_segmenter(x_train, y_train):",
        "    torch.manual_seed(0)",
        "    model = Network(num_classes=2, widths=(8, 16, 32))",
        "    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)",
        "    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)",
        "    for epoch in range(8):",
        "        order = torch.randperm(len(x))",
        "        for start in range(0, len(x), 32):",
        "            b = order[start:start + 32]",
        "            loss = nn.functional.cross_entropy(model(x[b]), y[b])",
        "            optimizer.zero_grad()",
        "            loss.backward()",
        "            optimizer.step()",
        "    return model.eval()",
    ])), frozenset({"test_train_segmenter"}), "the course's U-Net under an alias"),
}

CORRECT = {
    "cm-add-at": Case(substitute("confusion_matrix", "\n".join([
        "def confusion_matrix(predictions, targets, num_classes):",
        "    p, t = np.asarray(predictions), np.asarray(targets)",
        "    if p.shape != t.shape:",
        "        raise ValueError(f'shapes differ: {p.shape} and {t.shape}')",
        "    counts = np.zeros((num_classes, num_classes), dtype=np.int32)",
        "    np.add.at(counts, (t.ravel().astype(int), p.ravel().astype(int)), 1)",
        "    return counts",
    ]))),
    "iou-loops-float32": Case(substitute("iou_per_class", "\n".join([
        "def iou_per_class(confusion):",
        "    c = np.asarray(confusion, dtype=np.float32)",
        "    out = []",
        "    for k in range(len(c)):",
        "        tp = c[k, k]",
        "        fp = c[:, k].sum() - tp",
        "        fn = c[k, :].sum() - tp",
        "        out.append(tp / (tp + fp + fn) if tp + fp + fn > 0 else np.nan)",
        "    return np.array(out, dtype=np.float32)",
    ]))),
    "train-data-loader": Case(substitute("train_segmenter", "\n".join([
        "import torch.nn.functional as F",
        "from torch.utils.data import DataLoader, TensorDataset",
        "",
        "",
        "class Segmenter(nn.Module):",
        "    def __init__(self, width=8):",
        "        super().__init__()",
        "        conv = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())",
        "        self.down = nn.ModuleList([conv(3, width), conv(width, 2 * width), conv(2 * width, 4 * width)])",
        "        self.up = nn.ModuleList([nn.ConvTranspose2d(4 * width, 2 * width, 2, 2),",
        "                                 nn.ConvTranspose2d(2 * width, width, 2, 2)])",
        "        self.merge = nn.ModuleList([conv(4 * width, 2 * width), conv(2 * width, width)])",
        "        self.head = nn.Conv2d(width, 2, 1)",
        "",
        "    def forward(self, x):",
        "        skips = []",
        "        for i, layer in enumerate(self.down):",
        "            x = layer(x if i == 0 else F.max_pool2d(x, 2))",
        "            skips.append(x)",
        "        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):",
        "            x = merge(torch.cat([up(x), skip], 1))",
        "        return self.head(x)",
        "",
        "",
        "def train_segmenter(x_train, y_train):",
        "    torch.manual_seed(3)",
        "    model = Segmenter()",
        "    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-4)",
        "    data = TensorDataset(torch.tensor(x_train), torch.tensor(y_train))",
        "    loader = DataLoader(data, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(3))",
        "    for epoch in range(9):",
        "        model.train()",
        "        for images, labels in loader:",
        "            optimizer.zero_grad()",
        "            F.cross_entropy(model(images), labels).backward()",
        "            optimizer.step()",
        "    model.eval()",
        "    return model",
    ]))),
}
