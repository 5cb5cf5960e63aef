"""Runs the Rust and the PyTorch UNet benchmarks alternately (R P R P …) on this machine and
reports the median of each figure and the Rust/PyTorch ratios.

usage: python bench/compare.py PYTHON_WITH_TORCH [ROUNDS]
Builds `cargo build --release -p ddpm-unet --example unet_step` first.
"""
import re
import statistics
import subprocess
import sys

LINE = re.compile(r"batch (\d+): train step ([\d.]+) s, forward ([\d.]+) s")


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {(int(b), kind): float(v) for b, tr, fw in LINE.findall(out) for kind, v in (("train", tr), ("forward", fw))}, out


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "python3"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "ddpm-unet", "--example", "unet_step"], check=True)
    rust_cmd = ["target/release/examples/unet_step"]
    torch_cmd = [python, "bench/unet.py"]
    results = {"rust": [], "torch": []}
    for r in range(rounds):
        for name, cmd in (("rust", rust_cmd), ("torch", torch_cmd)):
            figures, out = run(cmd)
            if r == 0:
                print(out.splitlines()[0])
            results[name].append(figures)
    print(f"medians over {rounds} alternating rounds (each figure itself a median of 6 steps):")
    print("| figure | Rust (dfdx + course conv) | PyTorch CPU | ratio |")
    print("|---|---|---|---|")
    for key in sorted(results["rust"][0]):
        rust = statistics.median(f[key] for f in results["rust"])
        torch = statistics.median(f[key] for f in results["torch"])
        print(f"| {key[1]}, batch {key[0]} | {rust:.3f} s | {torch:.3f} s | {rust / torch:.2f}× |")


if __name__ == "__main__":
    main()
