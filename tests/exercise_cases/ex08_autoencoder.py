"""08-autoencoder: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, combine, replace, substitute

ASSIGNMENT = "08-autoencoder"

_HIT = "hit = generator.random((n, 1, h, w)) < amount"
_SALT = "values = np.where(salt, 1.0, 0.0).astype(images.dtype)"
_PSNR = "return float(10 * np.log10(max_value ** 2 / mse))"
_MSE = "mse = np.mean(error ** 2)"
_SIGMOID = "nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())"
_NOISY = "noisy = torch.from_numpy(salt_and_pepper(clean.numpy(), 0.2, seed + epoch))"

WRONG = {
    # 1. salt and pepper
    "noise-amount-kept": Case(replace("salt_and_pepper", _HIT, "hit = generator.random((n, 1, h, w)) < 1 - amount"),
                              frozenset({"test_salt_and_pepper"}), "amount used as the probability to keep a pixel"),
    "noise-per-channel": Case(
        combine(replace("salt_and_pepper", "n, _, h, w = images.shape", "n, c, h, w = images.shape"),
                replace("salt_and_pepper", _HIT, "hit = generator.random((n, c, h, w)) < amount"),
                replace("salt_and_pepper", "salt = generator.random((n, 1, h, w)) < 0.5",
                        "salt = generator.random((n, c, h, w)) < 0.5")),
        frozenset({"test_salt_and_pepper"}), "hits every channel on its own"),
    "noise-salt-is-black": Case(replace("salt_and_pepper", _SALT, "values = np.where(salt, 0.0, 1.0).astype(images.dtype)"),
                                frozenset({"test_salt_and_pepper"}), "salt and pepper swapped"),
    "noise-ignores-seed": Case(replace("salt_and_pepper", "generator = np.random.default_rng(rng)",
                                       "generator = np.random.default_rng()"),
                               frozenset({"test_salt_and_pepper"}), "a fresh generator instead of the given seed"),
    "noise-in-place": Case(replace("salt_and_pepper", "return np.where(hit, values, images)",
                                   "images[...] = np.where(hit, values, images)\n    return images"),
                           frozenset({"test_salt_and_pepper"}), "writes the noise into the caller's images"),
    "noise-skimage": Case(substitute("salt_and_pepper", "\n".join([
        "from skimage import util as image_tools",
        "",
        "def salt_and_pepper(images, amount, rng):",
        "    return image_tools.random_noise(np.asarray(images), mode='s&p', amount=amount, rng=rng)"
        ".astype(np.asarray(images).dtype)",
    ])), frozenset({"test_salt_and_pepper"}), "scikit-image's random_noise under an alias"),
    # 2. PSNR
    "psnr-max-not-squared": Case(replace("psnr", _PSNR, "return float(10 * np.log10(max_value / mse))"),
                                 frozenset({"test_psnr"}), "max_value not squared"),
    "psnr-rmse": Case(replace("psnr", _PSNR, "return float(10 * np.log10(max_value ** 2 / np.sqrt(mse)))"),
                      frozenset({"test_psnr"}), "the root of the MSE in a 10 log10 formula"),
    "psnr-summed": Case(replace("psnr", _MSE, "mse = np.sum(error ** 2)"),
                        frozenset({"test_psnr"}), "the sum of the squared errors instead of their mean"),
    "psnr-uint8-wraps": Case(
        replace("psnr", "error = np.asarray(reconstruction, dtype=np.float64) - np.asarray(target, dtype=np.float64)",
                "error = (np.asarray(reconstruction) - np.asarray(target)).astype(np.float64)"),
        frozenset({"test_psnr"}), "subtracts uint8 images before converting them"),
    "psnr-skimage-alias": Case(substitute("psnr", "\n".join([
        "import importlib",
        "",
        "psnr = importlib.import_module('skimage.metrics').peak_signal_noise_ratio",
    ])), frozenset({"test_psnr"}), "scikit-image's function itself under the task's name"),
    # 3. the autoencoder
    "ae-no-sigmoid": Case(replace("DigitAutoencoder", _SIGMOID,
                                  "nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1))"),
                          frozenset({"test_autoencoder_layers"}), "no sigmoid at the end of the decoder"),
    "ae-no-output-padding": Case(
        replace("DigitAutoencoder",
                "nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),\n"
                "            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)",
                "nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1), nn.ReLU(),\n"
                "            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1)"),
        frozenset({"test_autoencoder_shapes", "test_autoencoder_layers", "test_train_denoiser"}),
        "decodes 13 x 13 images (and so cannot be trained on 16 x 16 ones)"),
    "ae-course-model": Case(substitute("DigitAutoencoder", "\n".join([
        "import importlib",
        "",
        "_models = importlib.import_module('cnncourse.models.autoencoder')",
        "",
        "class DigitAutoencoder(nn.Module):",
        "    def __init__(self, code_size=16):",
        "        super().__init__()",
        "        self.model = _models.ConvAutoencoder(1, 16, code_size, (16, 32))",
        "",
        "    def encode(self, x):",
        "        return self.model.encode(x)",
        "",
        "    def decode(self, code):",
        "        return self.model.decode(code)",
        "",
        "    def forward(self, x):",
        "        return self.model(x)",
    ])), frozenset({"test_autoencoder_shapes", "test_autoencoder_layers", "test_train_denoiser"}),
        "wraps the course's autoencoder (which the training then uses too)"),
    # 4. training
    "train-without-noise": Case(replace("train_denoiser", _NOISY, "noisy = clean"),
                                frozenset({"test_train_denoiser"}), "a plain autoencoder: trained on clean inputs"),
    "train-one-epoch": Case(replace("train_denoiser", "def train_denoiser(x_train, epochs=15, seed=0):",
                                    "def train_denoiser(x_train, epochs=1, seed=0):"),
                            frozenset({"test_train_denoiser"}), "stops after one epoch"),
    "train-returns-tuple": Case(replace("train_denoiser", "return model.eval()", "return model.eval(), optimizer"),
                                frozenset({"test_train_denoiser"}), "returns the model and the optimizer"),
    "train-with-course-fit": Case(substitute("train_denoiser", "\n".join([
        "from cnncourse.train import fit",
        "",
        "def train_denoiser(x_train):",
        "    torch.manual_seed(0)",
        "    model = DigitAutoencoder(code_size=32)",
        "    fit(model, (salt_and_pepper(x_train, 0.2, 0), x_train), loss=nn.MSELoss(), epochs=15, lr=5e-3,",
        "        optimizer='adam', progress=False, device='cpu')",
        "    return model.eval()",
    ])), frozenset({"test_train_denoiser"}), "the course's training loop"),
}

CORRECT = {
    "noise-with-uniform-and-masks": Case(substitute("salt_and_pepper", "\n".join([
        "def salt_and_pepper(images, amount, rng):",
        "    rng = np.random.default_rng(rng)",
        "    out = np.array(images, copy=True)",
        "    shape = (out.shape[0], 1) + out.shape[2:]",
        "    hit = rng.uniform(size=shape) < amount",
        "    salt = rng.uniform(size=shape) < 0.5",
        "    hit, salt = np.broadcast_to(hit, out.shape), np.broadcast_to(salt, out.shape)",
        "    out[hit & salt] = 1",
        "    out[hit & ~salt] = 0",
        "    return out",
    ]))),
    "psnr-in-two-logs": Case(substitute("psnr", "\n".join([
        "def psnr(reconstruction, target, max_value=1.0):",
        "    a = np.asarray(reconstruction, dtype=np.float32)",
        "    b = np.asarray(target, dtype=np.float32)",
        "    mse = np.mean(np.square(a.astype(np.float64) - b))",
        "    with np.errstate(divide='ignore'):",
        "        return 20 * np.log10(max_value) - 10 * np.log10(mse)",
    ]))),
    "ae-named-layers": Case(substitute("DigitAutoencoder", "\n".join([
        "import torch.nn.functional as F",
        "",
        "class DigitAutoencoder(nn.Module):",
        "    def __init__(self, code_size=16):",
        "        super().__init__()",
        "        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)",
        "        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)",
        "        self.to_code = nn.Linear(512, code_size)",
        "        self.from_code = nn.Linear(code_size, 512)",
        "        self.up1 = nn.ConvTranspose2d(32, 16, kernel_size=3, stride=2, padding=1, output_padding=1)",
        "        self.up2 = nn.ConvTranspose2d(16, 1, kernel_size=3, stride=2, padding=1, output_padding=1)",
        "",
        "    def encode(self, x):",
        "        return self.to_code(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))",
        "",
        "    def decode(self, code):",
        "        maps = F.relu(self.from_code(code)).view(-1, 32, 4, 4)",
        "        return torch.sigmoid(self.up2(F.relu(self.up1(maps))))",
        "",
        "    def forward(self, x):",
        "        return self.decode(self.encode(x))",
    ]))),
    "train-with-data-loader": Case(substitute("train_denoiser", "\n".join([
        "import torch.nn.functional as F",
        "from torch.utils.data import DataLoader, TensorDataset",
        "",
        "",
        "def train_denoiser(x_train):",
        "    torch.manual_seed(1)",
        "    model = DigitAutoencoder(code_size=48)",
        "    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=1e-4)",
        "    clean = torch.tensor(x_train)",
        "    for epoch in range(18):",
        "        noisy = torch.tensor(salt_and_pepper(x_train, 0.25, 100 + epoch))",
        "        loader = DataLoader(TensorDataset(noisy, clean), batch_size=50, shuffle=True,",
        "                            generator=torch.Generator().manual_seed(epoch))",
        "        for inputs, targets in loader:",
        "            optimizer.zero_grad()",
        "            F.mse_loss(model(inputs), targets).backward()",
        "            optimizer.step()",
        "    model.eval()",
        "    return model",
    ]))),
}
