"""07-architectures: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, combine, replace, substitute

ASSIGNMENT = "07-architectures"

_COUNT = "return int(sum(p.numel() for p in module.parameters()))"
_RESIDUAL_RETURN = "        return torch.relu(out + self.shortcut(x))"
_RESIDUAL_MAIN = "        out = self.bn2(self.conv2(out))"
_IDENTITY = ("        if stride == 1 and in_channels == out_channels:\n"
             "            self.shortcut = nn.Identity()\n"
             "        else:\n")
_PROJECTION = ("            self.shortcut = nn.Sequential(\n"
               "                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),\n"
               "                nn.BatchNorm2d(out_channels))")
_DENSE_LAYER = ("            self.layers.append(nn.Sequential(\n"
                "                nn.BatchNorm2d(channels), nn.ReLU(),\n"
                "                nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False)))")
_DENSE_FORWARD = ("        features = [x]\n"
                  "        for layer in self.layers:\n"
                  "            features.append(layer(torch.cat(features, dim=1)))\n"
                  "        return torch.cat(features, dim=1)")

WRONG = {
    # 1. count_parameters
    "count-tensors": Case(replace("count_parameters", _COUNT, "return len(list(module.parameters()))"),
                          frozenset({"test_count_parameters"}), "counts parameter tensors, not numbers"),
    "count-buffers-too": Case(
        replace("count_parameters", _COUNT, "return int(sum(t.numel() for t in module.state_dict().values()))"),
        frozenset({"test_count_parameters"}), "counts the running statistics (buffers) too"),
    "count-trainable-only": Case(
        replace("count_parameters", _COUNT,
                "return int(sum(p.numel() for p in module.parameters() if p.requires_grad))"),
        frozenset({"test_count_parameters"}), "skips frozen parameters"),
    "count-course-profile": Case(substitute("count_parameters", "\n".join([
        "import importlib",
        "",
        "def count_parameters(module):",
        "    profile = importlib.import_module('cnncourse.models.' + 'profile')",
        "    return getattr(profile, 'count_' + 'parameters')(module)",
    ])), frozenset({"test_count_parameters"}), "the course's count_parameters through importlib"),
    "count-course-alias": Case(substitute("count_parameters", "\n".join([
        "import importlib",
        "",
        "count_parameters = importlib.import_module('cnncourse.models.profile').count_parameters",
    ])), frozenset({"test_count_parameters"}), "the course's function itself under the task's name"),
    # 2-3. BasicBlock
    "relu-before-addition": Case(
        combine(replace("BasicBlock", _RESIDUAL_MAIN, "        out = torch.relu(self.bn2(self.conv2(out)))"),
                replace("BasicBlock", _RESIDUAL_RETURN, "        return out + self.shortcut(x)")),
        frozenset({"test_residual_identity"}), "ReLU before the addition instead of after it"),
    "no-relu-after-addition": Case(
        replace("BasicBlock", _RESIDUAL_RETURN, "        return out + self.shortcut(x)"),
        frozenset({"test_residual_identity"}), "no ReLU after the addition"),
    "missing-projection": Case(
        replace("BasicBlock", _IDENTITY + _PROJECTION, "        self.shortcut = nn.Identity()"),
        frozenset({"test_residual_projection"}), "identity shortcut even where the shape changes"),
    "always-projection": Case(
        replace("BasicBlock", _IDENTITY + _PROJECTION, _PROJECTION.replace("            ", "        ", 1)),
        frozenset({"test_residual_identity"}), "a projection where the identity is asked"),
    "stride-on-second-conv": Case(
        combine(replace("BasicBlock", "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
                        "nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)"),
                replace("BasicBlock", "nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                        "nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)")),
        frozenset({"test_residual_projection"}), "the main path strides in its second convolution"),
    "residual-with-biases": Case(
        combine(replace("BasicBlock", "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
                        "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)"),
                replace("BasicBlock", "nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                        "nn.Conv2d(out_channels, out_channels, 3, padding=1)")),
        frozenset({"test_residual_identity", "test_residual_projection"}), "convolutions with biases"),
    "residual-adds-into-input": Case(
        replace("BasicBlock", _RESIDUAL_RETURN,
                "        skip = self.shortcut(x)\n"
                "        skip += out\n"
                "        return torch.relu(skip)"),
        frozenset({"test_residual_identity"}), "adds in place into x itself when the shortcut is the identity"),
    "residual-course-subclass": Case(substitute("BasicBlock", "\n".join([
        "import importlib",
        "",
        "_resnet = importlib.import_module('cnncourse.models.' + 'resnet')",
        "",
        "class BasicBlock(_resnet.BasicBlock):",
        "    def __init__(self, in_channels, out_channels, stride=1):",
        "        super().__init__(in_channels, out_channels, stride, 'projection')",
    ])), frozenset({"test_residual_identity", "test_residual_projection"}),
        "the course's residual module through importlib"),
    # 4. DenseBlock
    "dense-wrong-axis": Case(replace("DenseBlock", _DENSE_FORWARD, _DENSE_FORWARD.replace("dim=1", "dim=0")),
                             frozenset({"test_dense_block_forward"}), "concatenates along the batch axis"),
    "dense-without-input": Case(
        replace("DenseBlock", "        return torch.cat(features, dim=1)", "        return torch.cat(features[1:], dim=1)"),
        frozenset({"test_dense_block_forward"}), "leaves the block's input out of the output"),
    "dense-chained": Case(
        combine(replace("DenseBlock", "channels = in_channels + index * growth_rate",
                        "channels = in_channels if index == 0 else growth_rate"),
                replace("DenseBlock", "features.append(layer(torch.cat(features, dim=1)))",
                        "features.append(layer(features[-1]))")),
        frozenset({"test_dense_block_layers", "test_dense_block_forward"}), "each layer sees only the previous one"),
    "dense-conv-first": Case(
        replace("DenseBlock", _DENSE_LAYER,
                "            self.layers.append(nn.Sequential(\n"
                "                nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False),\n"
                "                nn.BatchNorm2d(growth_rate), nn.ReLU()))"),
        frozenset({"test_dense_block_layers", "test_dense_block_forward"}), "conv-BN-ReLU instead of BN-ReLU-conv"),
    "dense-course-block": Case(substitute("DenseBlock", "\n".join([
        "import importlib",
        "",
        "class DenseBlock(nn.Module):",
        "    def __init__(self, in_channels, num_layers, growth_rate):",
        "        super().__init__()",
        "        densenet = importlib.import_module('cnncourse.models.densenet')",
        "        self.block = densenet.DenseBlock(in_channels, num_layers, growth_rate, bottleneck=False)",
        "",
        "    def forward(self, x):",
        "        return self.block(x)",
    ])), frozenset({"test_dense_block_layers", "test_dense_block_forward"}),
        "wraps the course's dense block"),
    # 5. transition
    "transition-max-pool": Case(replace("transition", "nn.AvgPool2d(2, stride=2)", "nn.MaxPool2d(2, stride=2)"),
                                frozenset({"test_transition"}), "max pooling instead of average pooling"),
    "transition-course-alias": Case(substitute("transition", "\n".join([
        "import importlib",
        "",
        "transition = importlib.import_module('cnncourse.models.densenet').Transition",
    ])), frozenset({"test_transition"}), "the course's Transition class under the task's name"),
}

CORRECT = {
    "counted-with-numpy": Case(replace("count_parameters", _COUNT,
                                       "return np.sum([np.prod(p.shape) for _, p in module.named_parameters()], dtype=np.int64)")),
    "residual-as-sequential": Case(substitute("BasicBlock", "\n".join([
        "import torch.nn.functional as F",
        "",
        "class BasicBlock(nn.Module):",
        "    def __init__(self, in_channels, out_channels, stride=1):",
        "        super().__init__()",
        "        self.residual = nn.Sequential(",
        "            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels),",
        "            nn.ReLU(inplace=True),",
        "            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels))",
        "        self.project = None",
        "        if stride != 1 or in_channels != out_channels:",
        "            self.project = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride,",
        "                                                   bias=False), nn.BatchNorm2d(out_channels))",
        "",
        "    def forward(self, x):",
        "        skip = x if self.project is None else self.project(x)",
        "        return F.relu(skip + self.residual(x))",
    ]))),
    "dense-with-own-layer-class": Case(substitute("DenseBlock", "\n".join([
        "class DenseLayer(nn.Module):",
        "    def __init__(self, channels, growth_rate):",
        "        super().__init__()",
        "        self.norm = nn.BatchNorm2d(channels)",
        "        self.conv = nn.Conv2d(channels, growth_rate, kernel_size=3, padding=1, bias=False)",
        "",
        "    def forward(self, x):",
        "        return self.conv(torch.relu(self.norm(x)))",
        "",
        "",
        "class DenseBlock(nn.Module):",
        "    def __init__(self, in_channels, num_layers, growth_rate):",
        "        super().__init__()",
        "        self.layers = nn.ModuleList(DenseLayer(in_channels + i * growth_rate, growth_rate)",
        "                                    for i in range(num_layers))",
        "",
        "    def forward(self, x):",
        "        for layer in self.layers:",
        "            x = torch.cat([x, layer(x)], 1)",
        "        return x",
    ]))),
    "transition-own-module": Case(substitute("transition", "\n".join([
        "import torch.nn.functional as F",
        "",
        "class Transition(nn.Module):",
        "    def __init__(self, in_channels, out_channels):",
        "        super().__init__()",
        "        self.bn = nn.BatchNorm2d(in_channels)",
        "        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)",
        "",
        "    def forward(self, x):",
        "        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)",
        "",
        "",
        "def transition(in_channels, out_channels):",
        "    return Transition(in_channels, out_channels)",
    ]))),
}
