"""The user's quant config: observers, bit widths and exceptions on top of a target's constraints.

A ``QConfig`` (pydantic, ``extra="forbid"``, loadable from YAML) gives a default per tensor kind
(``weights``, ``activations``) and a list of ``overrides`` that select nodes by name glob (fnmatch)
and/or op type. Later overrides win over earlier ones, field by field. The target's
``QuantConstraints`` always win: asking for something the target cannot do (more bits,
per-channel on a per-tensor target, affine on a symmetric one, float scales on a power-of-two one)
is a ``ConfigError`` naming the node. Asking for a subset (fewer bits, per-tensor, symmetric,
power-of-two) is allowed.

Example YAML::

    activations: {observer: entropy}
    overrides:
      - {name: "conv1", bits: 16}           # weights and activations of conv1
      - {op_type: Gemm, weights: {granularity: per_tensor}}
      - {name: "head/*", float: true}       # stays float: no quantizers around it
"""
from __future__ import annotations

import fnmatch
import functools
from pathlib import Path
from typing import Annotated, Callable, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from quant.constraints import TensorRule
from quant.errors import ConfigError
from quant.ir import Graph, Node
from quant.yaml_lines import line_of
from quant.observers import OBSERVERS, Entropy, MSE, Percentile

ObserverName = Literal["minmax", "moving_average", "percentile", "mse", "entropy"]
Kind = Literal["weights", "activations"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindConfig(_Model):
    """Settings for one kind of tensor; a field left empty keeps the target's rule (or the default)."""

    observer: Annotated[ObserverName | None, Field(description="Range estimator; default minmax.")] = None
    bits: Annotated[Literal[4, 8, 16] | None, Field(description="Bit width (at most the target's).")] = None
    granularity: Annotated[
        Literal["per_tensor", "per_channel"] | None, Field(description="per_channel applies to weights only.")
    ] = None
    symmetric: Annotated[bool | None, Field(description="Zero point fixed at 0.")] = None
    scale: Annotated[Literal["float", "power_of_two"] | None, Field(description="Scale kind.")] = None
    percentile: Annotated[
        float | None, Field(gt=50, le=100, description="percentile observer: the kept percentage.", examples=[99.99])
    ] = None

    def merged(self, other: KindConfig) -> KindConfig:
        """``other``'s set fields over this one's."""
        return self.model_copy(update=other.model_dump(exclude_none=True))


class Override(_Model):
    """Settings for the nodes a selector picks (a name glob and/or an op type)."""

    name: Annotated[str | None, Field(description="fnmatch glob on node names.", examples=["conv1", "layer4.*"])] = None
    op_type: Annotated[str | None, Field(description="ONNX op type.", examples=["Gemm"])] = None
    float: Annotated[bool, Field(description="Keep the node float: no quantizers around it.")] = False
    bits: Annotated[Literal[4, 8, 16] | None, Field(description="Shorthand: bits for weights and activations.")] = None
    weights: Annotated[KindConfig, Field(description="Weight settings for the selected nodes.")] = KindConfig()
    activations: Annotated[KindConfig, Field(description="Output activation settings.")] = KindConfig()

    @model_validator(mode="after")
    def has_a_selector(self) -> Override:
        if self.name is None and self.op_type is None:
            raise ValueError("an override needs 'name' (a glob) or 'op_type'")
        return self

    def selects(self, node: Node) -> bool:
        return (self.name is None or fnmatch.fnmatchcase(node.name, self.name)) and (
            self.op_type is None or node.op_type == self.op_type
        )

    def kind(self, kind: Kind) -> KindConfig:
        base = self.weights if kind == "weights" else self.activations
        return base if self.bits is None or base.bits is not None else base.model_copy(update={"bits": self.bits})


class QConfig(_Model):
    """Observers and exceptions for one quantization run."""

    weights: Annotated[KindConfig, Field(description="Defaults for weights.")] = KindConfig()
    activations: Annotated[KindConfig, Field(description="Defaults for activations and inputs.")] = KindConfig()
    overrides: Annotated[list[Override], Field(description="Per-node exceptions; later ones win.")] = []

    def keeps_float(self, node: Node) -> bool:
        return any(o.float and o.selects(node) for o in self.overrides)

    def settings(self, nodes: Iterable[Node], kind: Kind) -> KindConfig:
        """The merged settings for a tensor belonging to ``nodes`` (a node or a fused group)."""
        nodes = list(nodes)
        out = self.weights if kind == "weights" else self.activations
        for o in self.overrides:
            if any(o.selects(n) for n in nodes):
                out = out.merged(o.kind(kind))
        return out

    def check_selectors(self, graph: Graph) -> None:
        """A ConfigError for an override that selects no node (usually a typo)."""
        for i, o in enumerate(self.overrides):
            if not any(o.selects(n) for n in graph.nodes):
                what = " and ".join(f"{k} '{v}'" for k, v in (("name", o.name), ("op_type", o.op_type)) if v)
                raise ConfigError(f"quant config overrides[{i}] ({what}) selects no node of the model; fix the selector")


def rule_for(settings: KindConfig, target: TensorRule, kind: Kind, node: str) -> TensorRule:
    """The target's rule narrowed by the config; a ConfigError where the config asks for more."""
    where = f"node '{node}': quant config asks for"
    if settings.bits is not None and settings.bits > target.bits:
        raise ConfigError(f"{where} {settings.bits}-bit {kind} but the target allows at most {target.bits}")
    if settings.granularity == "per_channel" and (kind == "activations" or target.granularity == "per_tensor"):
        why = "activations are per-tensor" if kind == "activations" else "the target's weights are per_tensor only"
        raise ConfigError(f"{where} per_channel {kind} but {why}; drop granularity from the config")
    if settings.symmetric is False and target.symmetric:
        raise ConfigError(f"{where} affine {kind} but the target requires symmetric ones")
    if settings.scale == "float" and target.scale == "power_of_two":
        raise ConfigError(f"{where} float scales for {kind} but the target requires power_of_two scales")
    update = {k: v for k, v in settings.model_dump(include={"bits", "granularity", "symmetric", "scale"}).items() if v is not None}
    return TensorRule(**{**target.model_dump(), **update})


def observer_factory(settings: KindConfig, rule: TensorRule, axis: int | None = None) -> Callable[[], object]:
    """A factory (never an instance) for the observer the settings name, tuned to the rule's grid."""
    name = settings.observer or "minmax"
    if name == "percentile":
        return functools.partial(Percentile, percentile=settings.percentile or 99.99)
    if name == "mse":
        return functools.partial(MSE, levels=1 << rule.bits, symmetric=rule.symmetric)
    if name == "entropy":
        return functools.partial(Entropy, quantized_bins=min(1 << (rule.bits - 1), 1024))
    if axis is not None and rule.granularity == "per_channel":
        return functools.partial(OBSERVERS[name], axis=axis)
    return OBSERVERS[name]


PRESETS: dict[str, QConfig] = {
    "default": QConfig(),
    "per_channel_int8": QConfig(
        weights=KindConfig(observer="minmax", bits=8, granularity="per_channel"),
        activations=KindConfig(observer="minmax", bits=8, granularity="per_tensor"),
    ),
    "pow2_symmetric": QConfig(
        weights=KindConfig(symmetric=True, scale="power_of_two"),
        activations=KindConfig(symmetric=True, scale="power_of_two"),
    ),
    "w4a8": QConfig(weights=KindConfig(bits=4), activations=KindConfig(bits=8)),
    "entropy": QConfig(activations=KindConfig(observer="entropy")),
    "percentile": QConfig(activations=KindConfig(observer="percentile", percentile=99.99)),
    "mse": QConfig(activations=KindConfig(observer="mse")),
}


def preset(name: str) -> QConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown quant config preset '{name}'; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def load_qconfig(source: str | Path) -> QConfig:
    """A preset name, or a YAML file; errors name the file and the field."""
    if isinstance(source, str) and source in PRESETS:
        return PRESETS[source]
    path = Path(source)
    if not path.exists() and path.suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"quant config '{source}' is neither a file nor a preset; presets: {', '.join(sorted(PRESETS))}")
    try:
        text = path.read_text(encoding="utf-8")
        raw, tree = yaml.safe_load(text), yaml.compose(text)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the quant config ({e.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a quant config is YAML") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    try:
        return QConfig.model_validate(raw or {})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        line = line_of(tree, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; a quant config has weights, activations and overrides (see README)"
        raise ConfigError(f"{path}: {field}{f' (line {line})' if line else ''}: {msg}") from None
