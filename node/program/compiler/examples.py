"""Built-in examples: scikit-learn's bundled digits set (8x8 images, no download), an MLP, a
small CNN and a small residual CNN (ResNet-style: BatchNorm, max pooling, identity and 1x1-conv
shortcuts, global average pooling) trained here in seconds (seeded), compiled to programs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from node.compute import determinism
from node.program.compiler.config import CompileConfig
from node.program.compiler.lower import compile_model
from node.program.spec import JobSpec

EXAMPLES = ("digits-mlp", "digits-cnn", "digits-resnet")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 40
    lr: float = 3e-3
    batch: int = 64
    test_fraction: float = 0.2


@dataclass
class Digits:
    x_train: torch.Tensor  # [N, 1, 8, 8] in [0, 1]
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(cfg: TrainConfig = TrainConfig()) -> Digits:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.from_numpy(np.random.default_rng(cfg.seed).permutation(len(y)))
    n_test = int(len(y) * cfg.test_fraction)
    te, tr = perm[:n_test], perm[n_test:]
    return Digits(x[tr], y[tr], x[te], y[te])


def digits_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv + BN, the input added back (through a strided 1x1
    conv + BN when the shape changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return torch.relu(out)


class DigitsResNet(nn.Module):
    """Stem (3x3 conv, BN, ReLU, 3x3/2 max pool), an identity block, a downsampling block,
    global average pooling and a linear head: 8x8 -> 4x4 -> 2x2 -> 1x1."""

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.layer1 = nn.Sequential(BasicBlock(width, width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def digits_resnet() -> nn.Module:
    return DigitsResNet()


def train(model: nn.Module, data: Digits, cfg: TrainConfig = TrainConfig()) -> nn.Module:
    determinism.configure(seed=cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    for mod in model.modules():  # re-initialize from the seeded generator
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_parameters()  # gamma 1, beta 0, fresh running statistics
            continue
        for p in mod.parameters(recurse=False):
            if p.dim() > 1:
                nn.init.kaiming_uniform_(p, a=5**0.5, generator=g)
            else:
                nn.init.uniform_(p, -0.05, 0.05, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(data.y_train)
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        for k in range(0, n, cfg.batch):
            idx = perm[k : k + cfg.batch]
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


_MODELS: dict[str, Callable[[], nn.Module]] = {
    "digits-mlp": digits_mlp,
    "digits-cnn": digits_cnn,
    "digits-resnet": digits_resnet,
}


def model_input(name: str, x: torch.Tensor) -> torch.Tensor:
    """The MLP takes flat rows (its Flatten is folded into the input layout)."""
    return x.reshape(len(x), -1) if name == "digits-mlp" else x


def train_config(name: str) -> TrainConfig:
    """The residual CNN with BatchNorm converges in fewer epochs (and each costs more)."""
    return TrainConfig(epochs=12) if name == "digits-resnet" else TrainConfig()


def build_example(
    name: str, batch: int | None = None, cfg: TrainConfig | None = None
) -> tuple[JobSpec, nn.Module, Digits]:
    """Train the named example and compile it for `batch` items (default: the test set)."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}: {', '.join(EXAMPLES)}")
    cfg = cfg or train_config(name)
    data = load_digits_split(cfg)
    model = train(_MODELS[name](), data, cfg)
    # The MLP's leading Flatten runs in the input adapter: compile the rest on flat rows.
    compiled = nn.Sequential(*list(model.children())[1:]) if name == "digits-mlp" else model
    b = batch or len(data.y_test)
    spec = compile_model(compiled, model_input(name, data.x_train), CompileConfig(batch=b))
    spec.meta["example"] = name
    return spec, model, data


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())
