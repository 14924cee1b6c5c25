"""The ``hwsim`` command: parse, load, call the API, write. Exit 0 ok, 2 bad input, 1 internal error."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from hwsim import __version__
from quant.errors import UserError

Command = Callable[[argparse.Namespace], int]


def _target_list(args: argparse.Namespace) -> int:
    from hwsim.target import load, target_names

    rows = [("name", "MACs", "array", "clock MHz", "SRAM KiB", "DRAM GB/s", "quantization")]
    for name in target_names():
        t = load(name)
        arr = t.compute.mac_array
        rows.append(
            (
                t.name, str(t.compute.macs), f"{arr.rows}x{arr.cols} {arr.dataflow.split('_')[0][0]}s",
                f"{t.compute.clock_mhz:g}", f"{t.memory.sram.size_bytes / 1024:g}",
                f"{t.memory.dram.bandwidth_gb_per_s:g}", t.quant_summary,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _target_show(args: argparse.Namespace) -> int:
    import yaml

    from hwsim.target import load

    print(yaml.safe_dump(load(args.target).model_dump(mode="json"), sort_keys=False), end="")
    return 0


def _target_validate(args: argparse.Namespace) -> int:
    from hwsim.target import load

    for path in args.paths:
        t = load(path)
        print(f"{path}: ok ({t.name}: {t.compute.macs} MACs, {t.quant_summary})")
    return 0


def _target_schema(args: argparse.Namespace) -> int:
    from hwsim.target.schema import schema_json

    print(schema_json(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwsim", description="Quantize ONNX models for int8 accelerators and simulate them.")
    p.add_argument("--version", action="version", version=f"hwsim {__version__}")
    verbs = p.add_subparsers(dest="verb", required=True)

    target = verbs.add_parser("target", help="list, show, validate targets; print the target JSON Schema")
    tverbs = target.add_subparsers(dest="target_verb", required=True)
    tverbs.add_parser("list", help="a table of the bundled targets").set_defaults(func=_target_list)
    show = tverbs.add_parser("show", help="the resolved target (inheritance applied) as YAML")
    show.add_argument("target", help="name from `hwsim target list` or a path")
    show.set_defaults(func=_target_show)
    val = tverbs.add_parser("validate", help="check target files")
    val.add_argument("paths", nargs="+", help="target files (or names)")
    val.set_defaults(func=_target_validate)
    tverbs.add_parser("schema", help="the JSON Schema of target files").set_defaults(func=_target_schema)

    for register in _EXTRA_COMMANDS:
        register(verbs)
    return p


def _model_verbs(verbs: argparse._SubParsersAction) -> None:
    from hwsim.commands import register

    register(verbs)


# Each entry adds verbs' sub-parsers (kept with the code they call).
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_model_verbs]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"hwsim: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("hwsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
