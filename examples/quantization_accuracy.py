"""Float, fake-quant and integer accuracy of the bundled classifier under three quantization schemes,
with the per-layer SQNR table and the "which layer hurts?" ranking of each.

    python examples/quantization_accuracy.py
"""
from hwsim.deployment import deploy

SCHEMES = [
    ("int8 per-channel (generic, float requant)", "generic", None),
    ("int8 per-channel (Ethos-U55, TFLite fixed-point)", "ethos-u55-128", None),
    ("power-of-two symmetric (TDA4VM, shift requant)", "tda4vm", None),
    ("4-bit weights, 8-bit activations (generic)", "generic", "w4a8"),
]


def main() -> None:
    for title, target, config in SCHEMES:
        r = deploy(None, target, config=config, sensitivity=True).report
        a = r.accuracy
        print(f"\n== {title}")
        print(f"top-1: float {100 * a.float_top1:.2f}%  fake-quant {100 * a.fake_quant_top1:.2f}%  integer {100 * a.integer_top1:.2f}%"
              f"  (integer - float: {100 * (a.integer_top1 - a.float_top1):+.2f} points, {a.samples} samples)")
        print("per-layer SQNR, float vs integer activations:")
        for s in r.layer_sqnr:
            print(f"  {s.tensor:40s} {'exact' if s.sqnr_db is None else f'{s.sqnr_db:6.1f} dB'}")
        print("which layer hurts (output SQNR dB: only this layer quantized / all but this layer quantized):")
        for s in r.sensitivity:
            print(f"  {s.layer:10s} {s.only_this_quantized_sqnr_db:6.1f} / {s.only_this_float_sqnr_db:6.1f}")


if __name__ == "__main__":
    main()
