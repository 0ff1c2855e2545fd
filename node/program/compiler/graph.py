"""A float model as a dataflow graph the lowering understands: traced with torch.fx, BatchNorm
folded into the preceding Conv2d/Linear, every node classified into a `kind`, and every node's
float value on the calibration data recorded (the scales come from those).

A tensor used twice is one node with two users (fan-out, shared inputs, residual branches);
the lowering gives each node one slot."""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from node.program.compiler.errors import UnsupportedLayer

# Elementwise float functions compiled to lookup tables.
TABLE_FUNCS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
_MODULE_KINDS: dict[type[nn.Module], str] = {
    nn.Linear: "linear",
    nn.Conv2d: "conv",
    nn.ReLU: "relu",
    nn.Flatten: "flatten",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Identity: "skip",
    nn.Dropout: "skip",
    nn.MaxPool2d: "maxpool",
    nn.AvgPool2d: "avgpool",
    nn.AdaptiveAvgPool2d: "avgpool",
}
_FUNC_KINDS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    torch.flatten: "flatten",
    F.gelu: "gelu",
    F.silu: "silu",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
    operator.add: "add",
    operator.iadd: "add",
    torch.add: "add",
    torch.mean: "mean",
    getattr: "shape",
    operator.getitem: "shape",
}
_METHOD_KINDS = {
    "relu": "relu",
    "relu_": "relu",
    "flatten": "flatten",
    "view": "flatten",
    "reshape": "flatten",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "add": "add",
    "add_": "add",
    "mean": "mean",
    "size": "shape",
}
SUPPORTED = (
    "Linear, Conv2d (groups 1, dilation 1, equal strides and zero padding on both axes), "
    "BatchNorm2d after Conv2d and BatchNorm1d after Linear (folded into their weights), "
    "ReLU, GELU, SiLU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), "
    "mean over (2, 3), Flatten/view/reshape to [batch, features], Identity, Dropout, and the sum of two "
    "activations (x + y, torch.add, +=)"
)
_FOLDS: dict[type[nn.Module], type[nn.Module]] = {
    nn.BatchNorm2d: nn.Conv2d,
    nn.BatchNorm1d: nn.Linear,
}


@dataclass(frozen=True)
class GraphNode:
    """One value of the model: `inputs` name the nodes it reads (activations only)."""

    name: str
    kind: str  # input, linear, conv, relu, flatten, skip, add, maxpool, avgpool, mean, table kinds
    where: str  # module path ("layer2.0.conv3") or function, for messages
    inputs: tuple[str, ...]
    module: nn.Module | None = None
    args: tuple[Any, ...] = ()  # non-tensor arguments (mean's dims)


@dataclass
class ModelGraph:
    """Nodes in topological order; `values` their float outputs on the calibration data."""

    nodes: list[GraphNode]
    output: str
    values: dict[str, torch.Tensor] = field(default_factory=dict)

    def node(self, name: str) -> GraphNode:
        return self._by_name[name]

    def users(self, name: str) -> list[GraphNode]:
        return [n for n in self.nodes if name in n.inputs]

    def __post_init__(self) -> None:
        self._by_name = {n.name: n for n in self.nodes}


def trace(model: nn.Module) -> torch.fx.GraphModule:
    """The model's fx graph (a copy: folding must not touch the caller's weights)."""
    model = copy.deepcopy(model).eval()
    if not isinstance(model, nn.Sequential) and torch.fx.Tracer().is_leaf_module(model, ""):
        model = nn.Sequential(model)  # a bare torch.nn layer: trace it as a call, not its body
    try:
        return torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds; all mean "not traceable"
        raise UnsupportedLayer(
            f"{type(model).__name__} is not torch.fx-traceable (its forward branches or loops "
            f"on tensor values?): {exc}"
        ) from exc


def fold_batchnorm(model: nn.Module) -> torch.fx.GraphModule:
    """The model with every eval-mode BatchNorm folded into the Conv2d/Linear before it:
    w' = w * g, b' = (b - mean) * g + beta with g = gamma / sqrt(var + eps) per channel."""
    gm = trace(model)
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    for node in list(gm.graph.nodes):
        if node.op != "call_module":
            continue
        bn = gm.get_submodule(str(node.target))
        want = _FOLDS.get(type(bn))
        if want is None:
            continue
        assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
        prev = node.args[0] if node.args else None
        layer = (
            gm.get_submodule(str(prev.target))
            if isinstance(prev, torch.fx.Node) and prev.op == "call_module"
            else None
        )
        if (
            not isinstance(prev, torch.fx.Node)
            or not isinstance(layer, want)
            or len(prev.users) != 1
            or calls[str(prev.target)] != 1
        ):
            raise UnsupportedLayer(
                f"{node.target} ({type(bn).__name__}): a BatchNorm is compiled by folding it into "
                f"the {want.__name__} right before it, whose output nothing else reads; here it "
                f"follows {_describe(prev, gm)}"
            )
        if bn.running_mean is None or bn.running_var is None:
            raise UnsupportedLayer(
                f"{node.target} ({type(bn).__name__}) has no running statistics "
                "(track_running_stats=False): nothing to fold"
            )
        _fold_into(layer, bn)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def _fold_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    assert isinstance(layer, (nn.Conv2d, nn.Linear))
    assert bn.running_mean is not None and bn.running_var is not None
    w = layer.weight.detach().to(torch.float64)
    mean = bn.running_mean.detach().to(torch.float64)
    g = 1.0 / torch.sqrt(bn.running_var.detach().to(torch.float64) + bn.eps)
    beta = torch.zeros_like(mean)
    if bn.weight is not None:
        g = g * bn.weight.detach().to(torch.float64)
    if bn.bias is not None:
        beta = bn.bias.detach().to(torch.float64)
    b = layer.bias.detach().to(torch.float64) if layer.bias is not None else torch.zeros_like(mean)
    shape = (-1,) + (1,) * (w.dim() - 1)
    dtype = layer.weight.dtype
    layer.weight = nn.Parameter((w * g.reshape(shape)).to(dtype))
    layer.bias = nn.Parameter(((b - mean) * g + beta).to(dtype))


def _describe(prev: Any, gm: torch.fx.GraphModule) -> str:
    if not isinstance(prev, torch.fx.Node):
        return "no layer"
    if prev.op == "call_module":
        mod = gm.get_submodule(str(prev.target))
        users = len(prev.users)
        extra = f", whose output {users} nodes read" if users != 1 else ""
        return f"{prev.target} ({type(mod).__name__}{extra})"
    if prev.op == "placeholder":
        return "the model input"
    return f"{prev.op} {getattr(prev.target, '__name__', prev.target)}"


def build_graph(model: nn.Module, calibration: torch.Tensor) -> ModelGraph:
    """Trace, fold, classify and calibrate `model`; UnsupportedLayer names the first node the
    lowering cannot compile, with its module path and what is supported."""
    gm = fold_batchnorm(model)
    nodes: list[GraphNode] = []
    output: str | None = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if any(n.kind == "input" for n in nodes):
                raise UnsupportedLayer("models with more than one input are not supported")
            nodes.append(GraphNode(node.name, "input", "input", ()))
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, torch.fx.Node):
                raise UnsupportedLayer("the model must return one tensor (not a tuple or dict)")
            output = out.name
        elif node.op == "get_attr":
            raise UnsupportedLayer(
                f"{node.target}: a parameter or buffer used directly in forward (not through a "
                f"layer) cannot be compiled; supported: {SUPPORTED}"
            )
        else:
            nodes.append(_classify(node, gm))
    if output is None:
        raise UnsupportedLayer("the model's graph has no output")
    graph = ModelGraph(nodes, output)
    _check_shape_nodes(graph)
    graph.values = _calibrate(gm, calibration)
    _check_flattens(graph)
    return graph


def _classify(node: torch.fx.Node, gm: torch.fx.GraphModule) -> GraphNode:
    module: nn.Module | None = None
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        kind = _MODULE_KINDS.get(type(module))
        where = f"{node.target} ({type(module).__name__})"
        if type(module) in _FOLDS:
            kind = None  # fold_batchnorm removed every foldable one
    elif node.op == "call_function":
        kind = _FUNC_KINDS.get(node.target)
        owner = getattr(node.target, "__module__", "") or ""
        where = f"{owner.lstrip('_')}.{_name(node.target)}".lstrip(".")  # _operator.mul
    else:
        kind = _METHOD_KINDS.get(str(node.target))
        where = f"Tensor.{node.target}"
    if kind is None:
        raise UnsupportedLayer(
            f"cannot compile {where} at node {node.name}; supported: {SUPPORTED}"
        )
    tensors = [a for a in node.args if isinstance(a, torch.fx.Node)]
    if any(isinstance(v, torch.fx.Node) for v in node.kwargs.values()):
        raise UnsupportedLayer(f"{where}: tensor keyword arguments are not supported")
    if kind == "shape":  # x.size(0), x.shape: feed view/reshape only, no slot
        return GraphNode(node.name, kind, where, tuple(a.name for a in tensors))
    if kind == "add":
        return _classify_add(node, where, tensors)
    if not tensors or node.args[0] is not tensors[0]:
        raise UnsupportedLayer(f"{where}: its first argument must be the activation")
    if kind == "mean":
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        return GraphNode(node.name, kind, where, (tensors[0].name,), None, (dims,))
    # The other tensor arguments may only be shape queries (x.view(x.size(0), -1)).
    return GraphNode(
        node.name, kind, where, (tensors[0].name,) + tuple(a.name for a in tensors[1:]), module
    )


def _classify_add(node: torch.fx.Node, where: str, tensors: list[torch.fx.Node]) -> GraphNode:
    alpha = node.kwargs.get("alpha", 1)
    if len(tensors) != 2 or len(node.args) != 2 or alpha != 1:
        raise UnsupportedLayer(
            f"{where} at node {node.name}: only the sum of two activations (x + y) is supported, "
            f"not a constant term or a scaled sum"
        )
    return GraphNode(node.name, "add", where, (tensors[0].name, tensors[1].name))


def _name(target: Any) -> str:
    return str(getattr(target, "__name__", target))


def _check_shape_nodes(graph: ModelGraph) -> None:
    """A shape query may feed only view/reshape and other shape queries; a view/reshape's
    extra inputs may only be shape queries. Then drop them from the activations' inputs."""
    shape = {n.name for n in graph.nodes if n.kind == "shape"}
    for i, n in enumerate(graph.nodes):
        extra = n.inputs[1:] if n.kind == "flatten" else ()
        if n.kind == "flatten" and any(e not in shape for e in extra):
            raise UnsupportedLayer(f"{n.where} at node {n.name}: its shape must be given by ints")
        if n.kind not in ("flatten", "shape") and any(x in shape for x in n.inputs):
            raise UnsupportedLayer(f"{n.where} at node {n.name} computes with a tensor's shape")
        if n.kind == "flatten":
            graph.nodes[i] = GraphNode(n.name, n.kind, n.where, n.inputs[:1], n.module, n.args)
    if graph.output in shape:
        raise UnsupportedLayer("the model returns a shape, not a tensor")
    graph.nodes[:] = [n for n in graph.nodes if n.kind != "shape"]
    graph.__post_init__()


def _check_flattens(graph: ModelGraph) -> None:
    """Flatten/view/reshape must give [B, features]: other shapes would be misread."""
    for n in graph.nodes:
        if n.kind != "flatten":
            continue
        before, after = graph.values[n.inputs[0]], graph.values[n.name]
        if after.dim() != 2 or after.shape[0] != before.shape[0]:
            raise UnsupportedLayer(
                f"{n.where} at node {n.name} reshapes {list(before.shape)} to "
                f"{list(after.shape)}: only flattening to [batch, features] is supported"
            )


class _Recorder(torch.fx.Interpreter):
    def __init__(self, gm: torch.fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[str, torch.Tensor] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.values[n.name] = out.detach()
        return out


def _calibrate(gm: torch.fx.GraphModule, calibration: torch.Tensor) -> dict[str, torch.Tensor]:
    rec = _Recorder(gm)
    with torch.no_grad():
        rec.run(calibration.to(torch.float32))
    return rec.values
