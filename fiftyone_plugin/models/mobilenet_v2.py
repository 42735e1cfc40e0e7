"""MobileNetV2 (width 1.0, 224x224) in plain torch, no torchvision.

The module tree mirrors ``torchvision.models.mobilenet_v2`` exactly, so the
checkpoint torchvision publishes (``mobilenet_v2-b0353104.pth``, a plain
state dict) loads with ``load_state_dict(strict=True)``:

- ``features.0``: conv 3x3 s2 (3 -> 32) + BN + ReLU6 (``features.0.0``/``.1``)
- ``features.1`` .. ``features.17``: inverted residual blocks; their layers sit
  in ``features.i.conv`` (``conv.0`` expand 1x1 + BN + ReLU6 when the expansion
  is not 1, then the depthwise 3x3 + BN + ReLU6, then the 1x1 projection conv
  and its BN)
- ``features.18``: conv 1x1 (320 -> 1280) + BN + ReLU6
- ``classifier``: ``Dropout(0.2)``, ``Linear(1280, 1000)`` (``classifier.1``)

The embedding is the global average of ``features`` (1280-d), which is the
input of ``classifier.1`` (FiftyOne's zoo uses the same layer, ``<classifier.1``).

torch is imported only when :func:`build_mobilenet_v2` is first called.
"""

from __future__ import annotations

import functools

#: (expansion t, output channels c, repeats n, first stride s), as in the paper.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
FEATURE_DIM = 1280
NUM_CLASSES = 1000


@functools.cache
def _classes():
    """Define the torch module classes on first use (keeps torch import lazy)."""
    from torch import nn

    def conv_bn_act(c_in, c_out, kernel, stride, groups=1):
        return nn.Sequential(
            nn.Conv2d(
                c_in, c_out, kernel, stride, (kernel - 1) // 2,
                groups=groups, bias=False,
            ),
            nn.BatchNorm2d(c_out),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):
        """Expand 1x1 -> depthwise 3x3 -> project 1x1, residual if shapes match."""

        def __init__(self, c_in, c_out, stride, expand_ratio):
            super().__init__()
            hidden = int(round(c_in * expand_ratio))
            self.use_res_connect = stride == 1 and c_in == c_out
            layers = []
            if expand_ratio != 1:
                layers.append(conv_bn_act(c_in, hidden, 1, 1))
            layers += [
                conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, c_out, 1, 1, 0, bias=False),
                nn.BatchNorm2d(c_out),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            if self.use_res_connect:
                return x + self.conv(x)
            return self.conv(x)

    class MobileNetV2(nn.Module):
        """MobileNetV2 1.0; ``forward`` gives logits, ``embed`` the 1280-d pool."""

        def __init__(self, num_classes=NUM_CLASSES):
            super().__init__()
            c_in = 32
            layers = [conv_bn_act(3, c_in, 3, 2)]
            for t, c, n, s in INVERTED_RESIDUAL_SETTING:
                for i in range(n):
                    layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                    c_in = c
            layers.append(conv_bn_act(c_in, FEATURE_DIM, 1, 1))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(
                nn.Dropout(p=0.2), nn.Linear(FEATURE_DIM, num_classes)
            )
            self._init_weights()

        def _init_weights(self):
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def embed(self, x):
            """(N, 3, 224, 224) normalised float -> (N, 1280) pooled features."""
            return self.features(x).mean(dim=(2, 3))

        def forward(self, x):
            return self.classifier(self.embed(x))

    return MobileNetV2


def build_mobilenet_v2(num_classes: int = NUM_CLASSES):
    """A fresh MobileNetV2 with random initial weights (a ``torch.nn.Module``)."""
    return _classes()(num_classes)
