r"""FractalNet (Larsson, Maire and Shakhnarovich, "FractalNet: Ultra-Deep Neural Networks without
Residuals", ICLR 2017, arXiv:1605.07648).

A fractal block is grown by one rule. With :math:`C = 1` it is a single convolutional layer,
:math:`f_1(z) = \mathrm{conv}(z)`; a block with one more *column* puts two copies of the previous
block one after the other and, beside them, one new convolution, and *joins* the two paths:

.. math:: f_{C+1}(z) = \big[(f_C \circ f_C)(z)\big] \oplus \big[\mathrm{conv}(z)\big]

The join :math:`\oplus` is the element-wise mean of its inputs. Unrolled, :math:`f_C` has ``C``
columns: column ``c`` (1 = the shortest) is a chain of :math:`2^{c-1}` convolutions, and the
longest column alone is a plain network of :math:`2^{C-1}` layers. As in the paper's Fig. 1,
joins that meet at the same depth are one join: the join closing the second :math:`f_C` and the
new :math:`\oplus` merge into a single mean over all the columns that end there (the last join of
:math:`f_C` averages ``C`` tensors), so every column has the same weight.

There are no residual connections; short columns carry the gradient to early layers the way
shortcuts do in a ResNet. *Drop-path* regularises the network by training random sub-networks:

* **local**: every join drops each of its inputs with probability ``p`` (0.15 in the paper),
  keeping at least one, and averages the survivors;
* **global**: a single column, drawn at random, is used for the whole network (in every block)
  for the mini-batch: the columns must then each work as a network of their own.

The paper trains with half of the mini-batches local and half global (``drop_path="mixed"``).
In evaluation mode every path is used.

Every convolutional layer is ``conv 3 x 3`` (stride 1, padding 1), dropout (optional), batch
normalisation and ReLU; each block is followed by a ``2 x 2`` max pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._checks import check_choice, int_tuple, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

DROP_PATH_MODES = ("none", "local", "global", "mixed")


def fractal_join(inputs: list, drop_prob: float = 0.0) -> torch.Tensor:
    r"""Element-wise mean of ``inputs``, each dropped with probability ``drop_prob`` (local
    drop-path); at least one input is always kept.

    .. math:: \mathrm{join}(z_1, \dots, z_m) = \frac{1}{|K|} \sum_{i \in K} z_i, \qquad
              K = \{ i : u_i \ge p \} \text{ (or one random } i \text{ if that is empty)}

    with :math:`u_i \sim U[0, 1)` drawn from PyTorch's generator, once per call (the whole batch
    shares the choice, as in the paper).

    Args:
        inputs: non-empty list of tensors of one shape.
        drop_prob: probability :math:`p \in [0, 1]` of dropping each input.

    Shape:
        - Each input: any shape :math:`(*)`; output: the same :math:`(*)`.
    """
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError(f"inputs must be a non-empty list of tensors, got {inputs!r}")
    drop_prob = real(drop_prob, "drop_prob", minimum=0.0, maximum=1.0)
    if len(inputs) == 1:
        return inputs[0]
    if drop_prob > 0.0:
        keep = torch.rand(len(inputs)) >= drop_prob
        if not bool(keep.any()):
            keep[int(torch.randint(len(inputs), ()))] = True
        inputs = [z for z, kept in zip(inputs, keep.tolist()) if kept]
    if len(inputs) == 1:
        return inputs[0]
    return torch.stack(inputs).mean(dim=0)


class FractalConv(nn.Sequential):
    """One layer of a fractal block: ``conv 3 x 3``, dropout, batch normalisation, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class FractalBlock(nn.Module):
    r"""The fractal :math:`f_C`: ``columns`` columns, built by the expansion rule.

    ``shallow`` is the new convolution of the rule; ``deep`` the two copies of
    :math:`f_{C-1}` (absent when ``columns == 1``).

    Args:
        in_channels: channels of the input.
        out_channels: channels of every layer of the block.
        columns: :math:`C`.
        dropout: dropout probability of every layer.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`; output :math:`(N, C_{out}, H, W)`.
    """

    def __init__(self, in_channels: int, out_channels: int, columns: int, dropout: float = 0.0):
        super().__init__()
        self.columns = integer(columns, "columns", minimum=1)
        self.shallow = FractalConv(in_channels, out_channels, dropout)
        if columns > 1:
            self.deep = nn.ModuleList([FractalBlock(in_channels, out_channels, columns - 1, dropout),
                                       FractalBlock(out_channels, out_channels, columns - 1, dropout)])
        else:
            self.deep = None

    def paths(self, z: torch.Tensor, column: int | None = None, drop_prob: float = 0.0) -> list:
        """The outputs of the columns that end at this block's last join, column 1 first.

        ``column`` (1..C) keeps only that column (global drop-path); ``None`` keeps all, with
        local drop-path of probability ``drop_prob`` at the inner joins.
        """
        if column is not None:
            if column == 1:
                return [self.shallow(z)]
            inner = self.deep[0].paths(z, column - 1)[0]
            return self.deep[1].paths(inner, column - 1)
        outputs = [self.shallow(z)]
        if self.deep is not None:
            inner = fractal_join(self.deep[0].paths(z, None, drop_prob), drop_prob)
            outputs += self.deep[1].paths(inner, None, drop_prob)
        return outputs

    def forward(self, z: torch.Tensor, column: int | None = None,
                drop_prob: float = 0.0) -> torch.Tensor:
        if column is not None:
            column = integer(column, "column", minimum=1, maximum=self.columns)
        return fractal_join(self.paths(z, column, drop_prob), drop_prob)


class FractalNet(nn.Module):
    r"""Fractal blocks, each followed by ``2 x 2`` max pooling, then global average pooling and a
    linear layer.

    Args:
        num_classes: number of scores.
        in_channels: channels of the input image.
        widths: channels of each block (one block per entry).
        columns: columns :math:`C` of every block (each block has :math:`2^C - 1` layers, the
            longest path :math:`B \cdot 2^{C-1}` for ``B`` blocks).
        drop_path: ``"none"``, ``"local"``, ``"global"`` or ``"mixed"`` (half of the training
            batches global, half local, as in the paper). Only active in training mode.
        local_drop: probability of dropping each join input in local drop-path.
        dropout: dropout probability of each block's layers (a tuple, one per block) or one
            number for all.

    Attributes:
        last_column: the column used by the last training forward pass under global drop-path,
            ``None`` when it used all columns (local or no drop-path, or evaluation).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: tuple = (16, 32, 64),
                 columns: int = 3, drop_path: str = "mixed", local_drop: float = 0.15,
                 dropout=0.0):
        super().__init__()
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        widths = int_tuple(widths, "widths", minimum=1)
        self.columns = integer(columns, "columns", minimum=1)
        self.drop_path = check_choice(drop_path, "drop_path", DROP_PATH_MODES)
        self.local_drop = real(local_drop, "local_drop", minimum=0.0, maximum=1.0, open_maximum=True)
        if isinstance(dropout, (tuple, list)):
            if len(dropout) != len(widths):
                raise ValueError(f"dropout must hold one probability per block ({len(widths)}), "
                                 f"got {len(dropout)}")
            rates = tuple(real(p, f"dropout[{i}]", minimum=0.0, maximum=1.0, open_maximum=True)
                          for i, p in enumerate(dropout))
        else:
            rates = (real(dropout, "dropout", minimum=0.0, maximum=1.0, open_maximum=True),) * len(widths)
        blocks, channels = [], in_channels
        for width, rate in zip(widths, rates):
            blocks.append(FractalBlock(channels, width, self.columns, rate))
            channels = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.last_column = None
        if not self.fc.weight.is_meta:  # meta device: shapes only
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _sample_drop_path(self) -> tuple[int | None, float]:
        """(column for global drop-path or None, local drop probability) for this batch."""
        if not self.training or self.drop_path == "none":
            return None, 0.0
        mode = self.drop_path
        if mode == "mixed":
            mode = "global" if float(torch.rand(())) < 0.5 else "local"
        if mode == "global":
            return int(torch.randint(1, self.columns + 1, ())), 0.0
        return None, self.local_drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        column, drop_prob = self._sample_drop_path()
        self.last_column = column
        for block in self.blocks:
            x = self.pool(block(x, column, drop_prob))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("fractalnet_cifar", family="fractalnet", input_size=(3, 32, 32), chapter=CHAPTER,
                reference="Larsson et al. 2017, arXiv:1605.07648 (CIFAR: 5 blocks of 64, 128, 256, "
                          "512, 512 channels; here smaller by default)",
                task="classification")
def fractalnet_cifar(num_classes: int = 10, in_channels: int = 3, widths: tuple = (16, 32, 64),
                     columns: int = 3, drop_path: str = "mixed", local_drop: float = 0.15,
                     dropout=0.0) -> FractalNet:
    """A FractalNet for 32 x 32 images (see :class:`FractalNet`).

    The default, three blocks of 3 columns with 16, 32 and 64 channels (7 layers per block, longest
    path 12 convolutions), trains on a CPU; the paper's 20-layer CIFAR network is
    ``widths=(64, 128, 256, 512, 512), columns=3, dropout=(0, 0.1, 0.2, 0.3, 0.4)``.
    """
    return FractalNet(num_classes=num_classes, in_channels=in_channels, widths=widths,
                      columns=columns, drop_path=drop_path, local_drop=local_drop, dropout=dropout)
