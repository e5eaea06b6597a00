"""One test over the model registry, plus the behaviour each architecture promises.

- every registered model: forward on a tiny batch gives the right shape, the backward pass
  reaches every parameter (CPU always, CUDA when present);
- every model registered with a published parameter count has exactly that count (built on the
  ``meta`` device: shapes only, nothing is run);
- architecture-specific behaviour: FractalNet's joins and drop-path, GoogLeNet's auxiliary
  classifiers and loss, attention maps, autoencoder codes, residual identity, dense
  concatenation;
- :func:`cnncourse.models.profile` against a layer whose cost is computed by hand;
- bad arguments raise TypeError/ValueError naming the argument.

ImageNet-size models (224 x 224 inputs) are only counted, never run at full size here, except
AlexNet and ZFNet once at 224 x 224; their forward/backward test runs at 64 x 64 (their adaptive
pooling accepts it) and is marked slow.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnncourse.models as models
from cnncourse.models import alexnet as alexnet_module
from cnncourse.models import densenet as densenet_module
from cnncourse.models import googlenet as googlenet_module
from cnncourse.models import resnet as resnet_module
from cnncourse.models.attention import attention_vgg16_small
from cnncourse.models.autoencoder import conv_autoencoder, corrupt, denoising_autoencoder
from cnncourse.models.fractalnet import FractalBlock, fractal_join, fractalnet_cifar
from cnncourse.models.profile import count_parameters
from cnncourse.registry import get_model, list_models, model_info

MODELS = list_models()
CUDA = torch.cuda.is_available()
REDUCED_SIDE = 64  # side of the test images for models registered at 224 x 224


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny batches gain nothing from threads, and on shared cores threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def is_imagenet_size(name):
    return model_info(name)["input_size"][1] >= 224


def model_cases():
    cases = []
    for name in MODELS:
        marks = [pytest.mark.slow] if is_imagenet_size(name) else []
        cases.append(pytest.param(name, "cpu", marks=marks, id=f"{name}-cpu"))
        cases.append(pytest.param(name, "cuda", id=f"{name}-cuda", marks=marks + [
            pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="no CUDA device")]))
    return cases


def build(name, **kwargs):
    """A registered model with one input channel more than its default and 7 classes."""
    info = model_info(name)
    channels = info["input_size"][0] + 1
    if info["task"] == "classification":
        kwargs.setdefault("num_classes", 7)
    return get_model(name, in_channels=channels, **kwargs), info


# --------------------------------------------------------------------------- the registry


def test_the_registry_holds_every_family():
    families = {model_info(name)["family"] for name in MODELS}
    assert {"alexnet", "vgg", "resnet", "googlenet", "fractalnet", "densenet", "attention",
            "autoencoder"} <= families
    for name in MODELS:
        info = model_info(name)
        assert len(info["input_size"]) == 3 and info["task"], name
        assert info["chapter"].startswith("book/"), f"{name} names no chapter"


@pytest.mark.parametrize("name, device", model_cases())
def test_every_model_runs_forward_and_backward(name, device):
    torch.manual_seed(0)
    model, info = build(name)
    model.to(device).train()
    if hasattr(model, "drop_path"):  # FractalNet: random sub-networks are tested below
        model.drop_path = "none"
    c, h, w = info["input_size"]
    h, w = min(h, REDUCED_SIDE), min(w, REDUCED_SIDE)
    x = torch.rand(2, c + 1, h, w, device=device)
    out = model(x)
    outputs = out if isinstance(out, tuple) else (out,)
    declared = None
    if hasattr(model, "output_shapes"):  # the use-case models (book/13-18) declare their outputs
        shapes = model.output_shapes(tuple(x.shape))
        if isinstance(out, dict):
            assert set(out) == set(shapes), f"{name}: outputs {sorted(out)}, declared {sorted(shapes)}"
            outputs, declared = tuple(out.values()), [tuple(shapes[key]) for key in out]
        else:
            declared = [tuple(shapes)]
    for k, o in enumerate(outputs):
        expected = (2, 7) if info["task"] == "classification" else tuple(x.shape)
        if declared is not None:
            expected = declared[k]
        assert tuple(o.shape) == expected, f"{name}: output shape {tuple(o.shape)}"
        assert o.device.type == device and o.dtype == torch.float32
        assert torch.isfinite(o).all(), f"{name}: non-finite output"
    sum(o.square().mean() for o in outputs).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"


REFERENCED = [n for n in MODELS if model_info(n)["reference_parameters"] is not None]


def test_every_imagenet_model_but_attention_has_a_published_count():
    # Jetley et al. (2018) print no parameter count for an ImageNet-size VGG-att.
    missing = {n for n in MODELS if is_imagenet_size(n) and n not in REFERENCED}
    assert missing <= {"attention_vgg16"}, missing


@pytest.mark.parametrize("name", REFERENCED)
def test_parameter_count_equals_the_published_reference(name):
    # Sources (also in the registry's "reference" field):
    # alexnet 61,100,840: Krizhevsky 2014, arXiv:1404.5997 (single tower) = torchvision alexnet
    # zfnet 62,357,608: Zeiler & Fergus 2014, arXiv:1311.2901, Fig. 3, summed layer by layer
    # vgg11 132,863,336 / vgg16 138,357,544: Simonyan & Zisserman 2015 (A, D) = torchvision
    # resnet18/34/50 11,689,512 / 21,797,672 / 25,557,032: He et al. 2016 = torchvision
    # googlenet 13,378,280 (with aux heads): Szegedy et al. 2015 Table 1 + Sec. 5
    # densenet121 7,978,856: Huang et al. 2017 = torchvision densenet121
    info = model_info(name)
    assert info["reference"], f"{name}: the registry names no source"
    with torch.device("meta"):
        model = get_model(name)
    assert count_parameters(model) == info["reference_parameters"]


def meta(builder, **kwargs):
    with torch.device("meta"):
        return builder(**kwargs)


def test_alexnet_of_the_2012_paper_has_60965224_parameters():
    # Krizhevsky, Sutskever, Hinton 2012: two GPUs, layers 2, 4, 5 see only their GPU's half.
    assert count_parameters(meta(alexnet_module.alexnet, grouped=True)) == 60_965_224


def test_zfnet_count_is_the_sum_over_the_papers_layer_table():
    per_layer = alexnet_module.zfnet_layer_parameters()
    assert per_layer["conv1"] == 7 * 7 * 3 * 96 + 96
    assert sum(per_layer.values()) == alexnet_module.ZFNET_PARAMETERS
    assert count_parameters(meta(alexnet_module.zfnet, num_classes=10)) == \
        sum(alexnet_module.zfnet_layer_parameters(num_classes=10).values())


def test_googlenet_counts_follow_table1_with_and_without_auxiliary_classifiers():
    plain = meta(googlenet_module.googlenet, aux_logits=False)
    assert count_parameters(plain) == googlenet_module.googlenet_table_parameters() == 6_998_552
    assert count_parameters(meta(googlenet_module.googlenet)) == \
        googlenet_module.googlenet_table_parameters(aux_logits=True)


def test_googlenet_classifier_is_far_smaller_than_alexnets_dense_layers():
    counts = googlenet_module.classifier_parameters()
    assert counts["googlenet"] == 1024 * 1000 + 1000
    assert counts["alexnet_4096"] == (9216 * 4096 + 4096) + (4096 * 4096 + 4096)
    assert counts["alexnet"] == counts["alexnet_4096"] + 4096 * 1000 + 1000
    assert counts["ratio"] == pytest.approx(counts["alexnet"] / counts["googlenet"]) and counts["ratio"] > 50


@pytest.mark.parametrize("depth", sorted(resnet_module.CIFAR_TABLE6_PARAMETERS))
def test_cifar_resnet_counts_match_table6_of_he_et_al(depth):
    printed = resnet_module.CIFAR_TABLE6_PARAMETERS[depth]
    unit = 0.1e6 if printed >= 1e6 else 0.01e6  # "1.7M" vs "0.27M"
    assert abs(count_parameters(resnet_module.resnet_cifar(depth)) - printed) <= unit / 2


@pytest.mark.parametrize("depth, growth_rate, bc", sorted(densenet_module.CIFAR_TABLE2_PARAMETERS))
def test_cifar_densenet_counts_match_table2_of_huang_et_al(depth, growth_rate, bc):
    printed = densenet_module.CIFAR_TABLE2_PARAMETERS[(depth, growth_rate, bc)]
    model = meta(densenet_module.densenet_cifar, depth=depth, growth_rate=growth_rate,
                 bottleneck=bc, compression=0.5 if bc else 1.0)
    assert abs(count_parameters(model) - printed) <= 0.05e6


# Multiply-accumulates of one 224 x 224 image, as published: torchvision's model pages list them
# as "GFLOPS" (they count a multiply-add once); He et al. 2016, Table 1, print 1.8 and 3.6 x 10^9
# for ResNet-18/34. (ResNet-50: torchvision's 4.09, because the stride sits in the 3 x 3 layer;
# the paper's 3.8 strides the first 1 x 1.)
PUBLISHED_GMACS = {"alexnet": 0.71, "vgg11": 7.61, "vgg16": 15.47, "resnet18": 1.81,
                   "resnet34": 3.66, "resnet50": 4.09, "densenet121": 2.83}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.slow] if n in ("resnet50", "densenet121", "vgg11") else [])
    for n in PUBLISHED_GMACS])
def test_multiply_accumulates_at_224_equal_the_published_figures(name):
    with torch.device("meta"):  # shapes only: nothing is computed
        model = get_model(name)
    result = models.profile(model, (3, 224, 224), device="meta")
    assert round(result.macs / 1e9, 2) == PUBLISHED_GMACS[name]
    assert math.isnan(result.latency_s) and result.parameters == model_info(name)["reference_parameters"]


# --------------------------------------------------------------------------- AlexNet family


def test_alexnet_runs_at_224():
    model = alexnet_module.alexnet().eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_zfnet_feature_maps_have_the_sizes_of_figure_3():
    model = alexnet_module.zfnet(num_classes=10).eval()
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
             for m in model.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    with torch.no_grad():
        model(torch.rand(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert sizes == [(96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13), (384, 13, 13),
                     (384, 13, 13), (256, 13, 13), (256, 6, 6)]


# --------------------------------------------------------------------------- ResNet


def test_a_residual_block_with_silenced_layers_is_the_identity():
    block = resnet_module.BasicBlock(8, 8).eval()
    nn.init.zeros_(block.bn2.weight)  # the residual branch now outputs exactly zero
    x = torch.rand(2, 8, 6, 6)
    torch.testing.assert_close(block(x), x)  # ReLU(x + 0) = x for x >= 0


@pytest.mark.parametrize("shortcut", ["pad", "projection"])
def test_shortcuts_change_shape_with_the_block(shortcut):
    block = resnet_module.BasicBlock(8, 16, stride=2, shortcut=shortcut)
    assert block(torch.rand(2, 8, 7, 7)).shape == (2, 16, 4, 4)
    extra = sum(p.numel() for p in block.shortcut.parameters())
    assert extra == (0 if shortcut == "pad" else 8 * 16 + 2 * 16)


def test_plain_twin_has_the_same_layers_and_no_shortcut():
    residual, plain = resnet_module.resnet_cifar(20), resnet_module.plain_cifar(20)
    weights = [type(m) for m in residual.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weights) == 20  # 19 convolutions and one linear layer: ResNet-20
    assert weights == [type(m) for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert count_parameters(residual) == count_parameters(plain)
    blocks = [m for m in plain.modules() if isinstance(m, resnet_module.BasicBlock)]
    assert len(blocks) == 9 and all(b.shortcut is None for b in blocks)


# --------------------------------------------------------------------------- GoogLeNet


def test_googlenet_returns_auxiliary_scores_only_in_training_mode():
    model = googlenet_module.googlenet_small(num_classes=5)
    x = torch.rand(2, 3, 32, 32)
    main, aux1, aux2 = model.train()(x)
    assert main.shape == aux1.shape == aux2.shape == (2, 5)
    assert isinstance(model.eval()(x), torch.Tensor)
    without = googlenet_module.googlenet_small(num_classes=5, aux_logits=False).train()
    assert isinstance(without(x), torch.Tensor) and without.aux1 is None


def test_googlenet_loss_weighs_each_auxiliary_loss_by_0_3():
    torch.manual_seed(0)
    main, aux1, aux2 = (torch.randn(4, 5) for _ in range(3))
    target = torch.tensor([0, 1, 2, 3])
    expected = F.cross_entropy(main, target) + 0.3 * (F.cross_entropy(aux1, target)
                                                      + F.cross_entropy(aux2, target))
    torch.testing.assert_close(googlenet_module.googlenet_loss((main, aux1, aux2), target), expected)
    torch.testing.assert_close(googlenet_module.googlenet_loss(main, target),
                               F.cross_entropy(main, target))


# --------------------------------------------------------------------------- FractalNet


def conv_counter(model):
    """Count the convolutions that run: returns (list holding the count, hook handles)."""
    ran = [0]
    handles = [m.register_forward_hook(lambda *_: ran.__setitem__(0, ran[0] + 1))
               for m in model.modules() if isinstance(m, nn.Conv2d)]
    return ran, handles


def test_fractal_block_follows_the_expansion_rule():
    torch.manual_seed(0)
    z = torch.rand(2, 4, 6, 6)
    f2 = FractalBlock(4, 4, columns=2).eval()
    expected = (f2.shallow(z) + f2.deep[1](f2.deep[0](z))) / 2  # f_2 = (f_1 o f_1) (+) conv
    torch.testing.assert_close(f2(z), expected)
    f3 = FractalBlock(4, 4, columns=3).eval()
    u = f3.deep[0](z)  # the first f_2, closed by its own join
    inner = f3.deep[1]  # the second f_2: its final join merges with the new column's
    expected = (f3.shallow(z) + inner.shallow(u) + inner.deep[1](inner.deep[0](u))) / 3
    torch.testing.assert_close(f3(z), expected)
    assert sum(isinstance(m, nn.Conv2d) for m in f3.modules()) == 2 ** 3 - 1


@pytest.mark.parametrize("column", [1, 2, 3])
def test_fractal_block_column_has_2_to_the_c_minus_1_layers(column):
    block = FractalBlock(4, 4, columns=3).eval()
    ran, handles = conv_counter(block)
    block(torch.rand(1, 4, 5, 5), column=column)
    assert ran[0] == 2 ** (column - 1)


def test_global_drop_path_uses_one_column_in_every_block():
    torch.manual_seed(0)
    model = fractalnet_cifar(drop_path="global").train()
    ran, _ = conv_counter(model)
    seen = set()
    for _ in range(12):
        ran[0] = 0
        model(torch.rand(2, 3, 32, 32))
        column = model.last_column
        assert column in (1, 2, 3)
        assert ran[0] == len(model.blocks) * 2 ** (column - 1)
        seen.add(column)
    assert seen == {1, 2, 3}


def test_local_drop_path_keeps_at_least_one_input():
    torch.manual_seed(0)
    inputs = [torch.full((2, 3), float(i)) for i in range(3)]
    for _ in range(20):
        out = fractal_join(inputs, drop_prob=1.0)  # everything dropped: one survivor is kept
        assert any(torch.equal(out, z) for z in inputs)
    torch.testing.assert_close(fractal_join(inputs, drop_prob=0.0), torch.full((2, 3), 1.0))
    means = {float(fractal_join(inputs, drop_prob=0.5)[0, 0]) for _ in range(200)}
    possible = {0.0, 1.0, 2.0, 0.5, 1.5}  # the means of one, two or three survivors
    assert means <= possible and len(means) >= 4


def test_local_drop_path_runs_every_column_and_samples_the_joins():
    torch.manual_seed(0)
    model = fractalnet_cifar(drop_path="local", local_drop=0.5).train()
    x = torch.rand(2, 3, 32, 32)
    ran, _ = conv_counter(model)
    outputs = [model(x) for _ in range(4)]
    assert model.last_column is None and ran[0] == 4 * 3 * 7
    assert not all(torch.allclose(outputs[0], o) for o in outputs[1:])


def test_evaluation_uses_every_path():
    model = fractalnet_cifar(drop_path="global").eval()
    ran, _ = conv_counter(model)
    x = torch.rand(2, 3, 32, 32)
    first = model(x)
    assert ran[0] == 3 * (2 ** 3 - 1) and model.last_column is None
    torch.testing.assert_close(model(x), first)


# --------------------------------------------------------------------------- DenseNet


def test_dense_block_concatenates_its_input_and_every_layer():
    block = densenet_module.DenseBlock(8, num_layers=3, growth_rate=4).eval()
    x = torch.rand(2, 8, 5, 5)
    out = block(x)
    assert out.shape == (2, 8 + 3 * 4, 5, 5)
    torch.testing.assert_close(out[:, :8], x)
    transition = densenet_module.Transition(20, 10)
    assert transition(out).shape == (2, 10, 2, 2)


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("compatibility", ["pc", "dp"])
def test_attention_maps_are_distributions_over_the_image(compatibility):
    torch.manual_seed(0)
    model = attention_vgg16_small(num_classes=4, compatibility=compatibility).eval()
    scores, maps = model(torch.rand(2, 3, 32, 32), return_attention=True)
    assert scores.shape == (2, 4)
    assert [tuple(a.shape) for a in maps] == [(2, 1, 32, 32), (2, 1, 16, 16), (2, 1, 8, 8)]
    for a in maps:
        assert (a >= 0).all()
        torch.testing.assert_close(a.sum(dim=(2, 3)), torch.ones(2, 1))


def test_attention_on_two_stages_gives_two_maps():
    model = attention_vgg16_small(num_classes=4, attention_stages=(4, 5)).eval()
    _, maps = model(torch.rand(1, 3, 32, 32), return_attention=True)
    assert len(maps) == 2 and model.classifier.in_features == 2 * 128


# --------------------------------------------------------------------------- autoencoders


def test_autoencoder_reconstructs_the_input_shape_through_its_code():
    model = conv_autoencoder(code_size=2, image_size=16).eval()
    x = torch.rand(5, 1, 16, 16)
    code = model.encode(x)
    assert code.shape == (5, 2)
    out = model(x)
    assert out.shape == x.shape and ((out >= 0) & (out <= 1)).all()
    torch.testing.assert_close(model.decode(code), out)
    wide = conv_autoencoder(in_channels=3, image_size=32, code_size=16, widths=(8, 16, 32))
    assert wide.encode(torch.rand(1, 3, 32, 32)).shape == (1, 16)
    assert wide(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_denoising_autoencoder_corrupts_only_in_training():
    torch.manual_seed(0)
    plain, noisy = conv_autoencoder(), denoising_autoencoder()
    noisy.load_state_dict(plain.state_dict())  # same architecture, same weights
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(plain.train()(x), plain(x))
    assert not torch.allclose(noisy.train()(x), plain(x))
    torch.testing.assert_close(noisy.eval()(x), plain.eval()(x))


def test_corrupt_kinds():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 16, 16) * 0.8 + 0.1
    before = x.clone()
    gaussian = corrupt(x, "gaussian", 0.5, generator=generator)
    assert (gaussian - x).std().item() == pytest.approx(0.5, rel=0.1)
    masked = corrupt(x, "masking", 0.25, generator=generator)
    dropped = (masked == 0).float().mean().item()
    assert dropped == pytest.approx(0.25, abs=0.05) and torch.equal(masked[masked != 0], x[masked != 0])
    salted = corrupt(x, "salt_and_pepper", 0.3, generator=generator)
    changed = salted != x
    assert set(salted[changed].tolist()) <= {x.min().item(), x.max().item()}
    assert changed.float().mean().item() == pytest.approx(0.3, abs=0.05)
    assert torch.equal(x, before), "corrupt changed its input"


# --------------------------------------------------------------------------- profile


@pytest.mark.parametrize("dtype, itemsize", [(torch.float32, 4), (torch.float64, 8)])
def test_profile_of_one_convolution_is_hand_checkable(dtype, itemsize):
    c_in, c_out, k, h, w = 3, 5, 3, 9, 10
    conv = nn.Conv2d(c_in, c_out, k, stride=2, padding=1).to(dtype)
    out_h, out_w = (h + 2 - k) // 2 + 1, (w + 2 - k) // 2 + 1  # 5 x 5
    result = models.profile(nn.Sequential(conv), (c_in, h, w), batch_size=2, repeat=3)
    assert result.parameters == c_out * c_in * k * k + c_out
    assert result.macs == 2 * out_h * out_w * c_out * c_in * k * k
    assert result.activation_bytes == 2 * c_out * out_h * out_w * itemsize
    (layer,) = result.layers
    assert layer.output_shape == (2, c_out, out_h, out_w) and layer.macs == result.macs
    assert len(result.latencies_s) == 3 and result.latency_s > 0
    assert result.dtype == str(dtype).replace("torch.", "")


def test_profile_sums_layers_and_restores_the_training_flag():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).train()
    result = models.profile(model, (1, 8, 8), repeat=2)
    assert model.training
    conv_macs, linear_macs = 6 * 6 * 4 * 1 * 9, 4 * 6 * 6 * 3
    assert [layer.macs for layer in result.layers] == [conv_macs, 0, 0, linear_macs]
    assert result.macs == conv_macs + linear_macs and result.other_macs == 0
    assert result.activation_bytes == 4 * (144 + 144 + 144 + 3)
    assert result.parameters == count_parameters(model) == (36 + 4) + (144 * 3 + 3)
    text = str(result)
    assert "| 3 | Linear | 1x3 | 435 | 432 |" in text and "**total**" in text


def test_profile_counts_operations_outside_leaf_modules():
    class Mixer(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(6, 4))
            self.proj = nn.Linear(4, 3)

        def forward(self, x):
            return self.proj(x @ self.weight)  # the product runs outside any leaf module

    result = models.profile(Mixer(), (1, 2, 6), repeat=1)
    assert result.macs == 2 * 6 * 4 + 2 * 4 * 3 and result.other_macs == 2 * 6 * 4
    assert [(layer.name, layer.parameters, layer.macs) for layer in result.layers] == \
        [("Mixer", 24, 0), ("proj", 15, 24)]


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device")
def test_profile_on_cuda():
    result = models.profile(nn.Sequential(nn.Conv2d(3, 8, 3)), (3, 16, 16), device="cuda", repeat=3)
    assert result.device.startswith("cuda") and result.macs == 14 * 14 * 8 * 3 * 9


# --------------------------------------------------------------------------- bad arguments


BAD_ARGUMENTS = [
    ("alexnet", {"num_classes": 0}, ValueError, "num_classes"),
    ("alexnet", {"num_classes": 2.5}, TypeError, "num_classes"),
    ("alexnet_small", {"in_channels": "3"}, TypeError, "in_channels"),
    ("alexnet_small", {"widths": (8, 8)}, ValueError, "widths"),
    ("alexnet", {"dropout": 1.0}, ValueError, "dropout"),
    ("vgg16_small", {"width": 0}, ValueError, "width"),
    ("resnet_cifar", {"depth": 21}, ValueError, "depth"),
    ("resnet18", {"shortcut": "none"}, ValueError, "shortcut"),
    ("densenet_cifar", {"depth": 41}, ValueError, "depth"),
    ("densenet_cifar", {"compression": 0.0}, ValueError, "compression"),
    ("fractalnet_cifar", {"drop_path": "sometimes"}, ValueError, "drop_path"),
    ("fractalnet_cifar", {"columns": 0}, ValueError, "columns"),
    ("fractalnet_cifar", {"dropout": (0.1, 0.2)}, ValueError, "dropout"),
    ("googlenet_small", {"aux_logits": 1}, TypeError, "aux_logits"),
    ("attention_vgg16_small", {"attention_stages": (3, 6)}, ValueError, "attention_stages"),
    ("attention_vgg16_small", {"compatibility": "cosine"}, ValueError, "compatibility"),
    ("conv_autoencoder", {"image_size": 18}, ValueError, "image_size"),
    ("denoising_autoencoder", {"corruption": "blur"}, ValueError, "corruption"),
    ("denoising_autoencoder", {"corruption": "masking", "noise_level": 2.0}, ValueError,
     "noise_level"),
]


@pytest.mark.parametrize("name, kwargs, error, argument", BAD_ARGUMENTS,
                         ids=[f"{c[0]}-{c[3]}" for c in BAD_ARGUMENTS])
def test_builders_reject_bad_arguments(name, kwargs, error, argument):
    with pytest.raises(error, match=argument), torch.device("meta"):
        get_model(name, **kwargs)


def test_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        get_model("alexnet_xl")
    with pytest.raises(TypeError, match="inputs"):
        fractal_join([])
    with pytest.raises(ValueError, match="drop_prob"):
        fractal_join([torch.zeros(1)], drop_prob=1.5)
    with pytest.raises(ValueError, match="column"):
        FractalBlock(2, 2, columns=2)(torch.zeros(1, 2, 3, 3), column=3)
    with pytest.raises(TypeError, match="outputs"):
        googlenet_module.googlenet_loss([torch.zeros(2, 3)], torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="kind"):
        corrupt(torch.zeros(2), "blur")
    with pytest.raises(TypeError, match="x"):
        corrupt([0.0, 1.0])
    with pytest.raises(TypeError, match="return_attention"):
        attention_vgg16_small()(torch.zeros(1, 3, 32, 32), return_attention="yes")
    with pytest.raises(TypeError, match="model"):
        models.profile("alexnet", (3, 32, 32))
    with pytest.raises(ValueError, match="input_size"):
        models.profile(nn.Identity(), (32, 32))
    with pytest.raises(ValueError, match="repeat"):
        models.profile(nn.Identity(), (1, 4, 4), repeat=0)
    if not CUDA:
        with pytest.raises(ValueError, match="device"):
            models.profile(nn.Identity(), (1, 4, 4), device="cuda")
    with pytest.raises(ValueError, match="device"):
        models.profile(nn.Identity(), (1, 4, 4), device="abacus")
    with pytest.raises(ValueError, match="meta"):  # would throw the weights away
        models.profile(nn.Linear(2, 2), (1, 1, 2), device="meta")


def test_profile_table_shows_the_costliest_layers():
    result = models.profile(get_model("alexnet_small"), (3, 32, 32), repeat=1)
    text = result.table(max_rows=3)
    assert text.count("Conv2d") == 3 and "more layers" in text
    assert math.isclose(sum(layer.macs for layer in result.layers), result.macs)
