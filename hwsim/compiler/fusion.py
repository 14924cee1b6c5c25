"""Group ops into layers: chains matching the target's ``quantization.fused_patterns`` run as one.

A chain extends from its head through ops that are the *sole* consumer of the previous op's output
(which must not be a graph output), with op types matching the pattern in order; the longest
matching pattern wins. A BatchNormalization right after a Conv (or ConvTranspose) is always folded
into it, whatever the patterns say, as the quantizer folds it into the weights. A group executes at
the position of its last op (so a fused residual Add sees its other input produced), and it takes
the name of its first op. Ops of a group must agree on integer-ness.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.compiler.graphview import GraphView, Op

CONV_LIKE = frozenset({"Conv", "ConvTranspose"})
FOLDED_INTO_CONV = "BatchNormalization"


@dataclass(frozen=True)
class Group:
    ops: tuple[Op, ...]  # head first

    @property
    def head(self) -> Op:
        return self.ops[0]

    @property
    def tail(self) -> Op:
        return self.ops[-1]

    @property
    def name(self) -> str:
        return self.head.name


def group_ops(view: GraphView, patterns: list[tuple[str, ...]]) -> list[Group]:
    """Partition ``view.ops`` into fused groups, ordered by where each group can execute."""
    ops = view.ops
    readers: dict[str, list[int]] = {}
    for idx, op in enumerate(ops):
        for s in set(op.inputs):
            if s:
                readers.setdefault(s, []).append(idx)
    by_head: dict[str, list[tuple[str, ...]]] = {}
    for p in sorted(patterns, key=len, reverse=True):
        by_head.setdefault(p[0], []).append(p)
    taken: set[int] = set()

    def sole_consumer(idx: int) -> int | None:
        outs = [o for o in ops[idx].outputs if o]
        if len(outs) != 1 or outs[0] in view.graph_outputs:
            return None
        users = readers.get(outs[0], [])
        if len(users) != 1 or users[0] in taken or ops[users[0]].integer != ops[idx].integer:
            return None
        return users[0]

    def absorb_bn(chain: list[int], want: str | None) -> None:
        if want == FOLDED_INTO_CONV or ops[chain[-1]].op_type not in CONV_LIKE:
            return
        nxt = sole_consumer(chain[-1])
        if nxt is not None and ops[nxt].op_type == FOLDED_INTO_CONV:
            chain.append(nxt)

    def match(head: int, pattern: tuple[str, ...]) -> list[int] | None:
        chain = [head]
        for want in pattern[1:]:
            absorb_bn(chain, want)
            nxt = sole_consumer(chain[-1])
            if nxt is None or ops[nxt].op_type != want:
                return None
            chain.append(nxt)
        return chain

    groups: list[tuple[int, Group]] = []
    for idx, op in enumerate(ops):
        if idx in taken:
            continue
        chain = next((c for p in by_head.get(op.op_type, []) if (c := match(idx, p))), None) or [idx]
        if len(chain) == 1 and op.op_type in CONV_LIKE:
            absorb_bn(chain, None)
        taken.update(chain)
        groups.append((max(chain), Group(tuple(ops[i] for i in chain))))
    groups.sort(key=lambda g: g[0])
    return [g for _, g in groups]
