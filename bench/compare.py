"""Runs the Rust and the PyTorch UNet benchmarks alternately (R P R P …) on this machine, for
both presets, and reports the median of each figure, the Rust/PyTorch ratios, each side's peak
memory, and the CPU.

usage: python bench/compare.py PYTHON_WITH_TORCH [ROUNDS] [PRESET ...]
Builds `cargo build --release -p ddpm-unet --example unet_step` first.
"""
import re
import statistics
import subprocess
import sys

LINE = re.compile(r"batch (\d+): train step ([\d.]+) s, forward ([\d.]+) s")
PEAK = re.compile(r"peak memory (\d+) MB")
CPU = re.compile(r"cpu: (.*)")


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    figures = {(int(b), kind): float(v) for b, tr, fw in LINE.findall(out)
               for kind, v in (("train", tr), ("forward", fw))}
    figures[(0, "peak MB")] = float(PEAK.search(out).group(1))
    return figures, out


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "python3"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    presets = sys.argv[3:] or ["small", "base"]
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "ddpm-unet", "--example",
                    "unet_step"], check=True)
    print(f"{rounds} alternating rounds; each time a median of 6 steps after a warm-up step")
    for preset in presets:
        cmds = {"rust": ["target/release/examples/unet_step", preset],
                "torch": [python, "bench/unet.py", preset]}
        results = {"rust": [], "torch": []}
        for r in range(rounds):
            for name, cmd in cmds.items():
                figures, out = run(cmd)
                if r == 0:
                    cpu = CPU.search(out)
                    if cpu:
                        print(f"CPU: {cpu.group(1)}")
                    print(f"{name}: {[l for l in out.splitlines() if 'preset' in l][0]}")
                results[name].append(figures)
        print(f"\n| {preset} | Rust | PyTorch | ratio |")
        print("|---|---|---|---|")
        for key in sorted(results["rust"][0], key=lambda k: (k[1] == "peak MB", k[1], k[0])):
            rust = statistics.median(f[key] for f in results["rust"])
            torch = statistics.median(f[key] for f in results["torch"])
            name = "peak memory" if key[1] == "peak MB" else f"{key[1]}, batch {key[0]}"
            unit = " MB" if key[1] == "peak MB" else " s"
            fmt = ".0f" if key[1] == "peak MB" else ".3f"
            print(f"| {name} | {rust:{fmt}}{unit} | {torch:{fmt}}{unit} | {rust / torch:.2f}× |")
        print()


if __name__ == "__main__":
    main()
