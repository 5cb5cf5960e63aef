"""The course's MNIST UNets (crates/ddpm-unet: `small` = `SmallUNet`, `base` = `MnistUNet`)
rebuilt layer for layer in PyTorch, timed the same way as
`cargo run --release -p ddpm-unet --example unet_step -- PRESET`: one training step (forward +
MSE + backward + Adam) and one tape-free forward pass, medians of 6 after a warm-up, at batch 64
and 128. Prints the parameter count, which must equal the Rust model's (small 150,033, base
596,001), and the process's peak memory.

usage: python bench/unet.py [small|base] [BATCH ...]   (needs torch; runs on the CPU)
"""
import math
import resource
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def timestep_embedding(ts, dim):
    """sin(t·ω_i) for the first half, cos(t·ω_i) for the second, ω_i = 10000^(−i/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = ts.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


class ResBlock(nn.Module):
    """The time projection has co outputs (added) or 2·co (a scale and a shift: adaptive GN)."""

    def __init__(self, ci, co, te, groups, scale_shift=False):
        super().__init__()
        self.co, self.scale_shift = co, scale_shift
        self.norm1 = nn.GroupNorm(groups, ci)
        self.conv1 = nn.Conv2d(ci, co, 3, padding=1)
        self.time = nn.Linear(te, 2 * co if scale_shift else co)
        self.norm2 = nn.GroupNorm(groups, co)
        self.conv2 = nn.Conv2d(co, co, 3, padding=1)
        self.skip = nn.Identity() if ci == co else nn.Conv2d(ci, co, 1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.time(F.silu(temb))[:, :, None, None]
        if self.scale_shift:
            n = self.norm2(h)
            h = n * (1 + e[:, :self.co]) + e[:, self.co:]
        else:
            h = self.norm2(h + e)
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, c, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.mha = nn.MultiheadAttention(c, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.norm(x).reshape(b, c, h * w).permute(0, 2, 1)
        out, _ = self.mha(tokens, tokens, tokens, need_weights=False)
        return out.permute(0, 2, 1).reshape(b, c, h, w) + x


class UNet(nn.Module):
    """`UNet<C1, C2, …, XB, T1, T2, A7, A14>` of crates/ddpm-unet: extra_blocks = XB,
    scale_shift = (T1, T2) twice the channels, attn7/attn14 = where attention runs."""

    def __init__(self, c1=32, c2=64, te=128, heads=4, groups=8, extra_blocks=0,
                 scale_shift=False, attn7=True, attn14=False):
        super().__init__()
        self.te = te
        rb = lambda ci, co: ResBlock(ci, co, te, groups, scale_shift)
        more = lambda c: nn.ModuleList([rb(c, c) for _ in range(extra_blocks)])
        attn = lambda on: Attention(c2, heads, groups) if on else nn.Identity()
        self.time1, self.time2 = nn.Linear(te, te), nn.Linear(te, te)
        self.conv_in = nn.Conv2d(1, c1, 3, padding=1)
        self.down1, self.down1_more = rb(c1, c1), more(c1)
        self.ds1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2, self.down2_more, self.attn14_down = rb(c1, c2), more(c2), attn(attn14)
        self.ds2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid1 = rb(c2, c2)
        self.attn = attn(attn7)
        self.mid2 = rb(c2, c2)
        self.us2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.up2, self.up2_more, self.attn14_up = rb(2 * c2, c2), more(c2), attn(attn14)
        self.us1 = nn.Conv2d(c2, c2, 3, padding=1)
        self.up1, self.up1_more = rb(c1 + c2, c1), more(c1)
        self.norm_out = nn.GroupNorm(groups, c1)
        self.conv_out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x, ts):
        temb = self.time2(F.silu(self.time1(timestep_embedding(ts, self.te))))

        def level(first, more, h):
            h = first(h, temb)
            for b in more:
                h = b(h, temb)
            return h

        h1 = level(self.down1, self.down1_more, self.conv_in(x))
        h2 = self.attn14_down(level(self.down2, self.down2_more, self.ds1(h1)))
        m = self.mid1(self.ds2(h2), temb)
        m = self.mid2(self.attn(m), temb)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        u2 = level(self.up2, self.up2_more, torch.cat([self.us2(up(m)), h2], dim=1))
        u2 = self.attn14_up(u2)
        u1 = level(self.up1, self.up1_more, torch.cat([self.us1(up(u2)), h1], dim=1))
        return self.conv_out(F.silu(self.norm_out(u1)))


def median(v):
    return sorted(v)[len(v) // 2]


PRESETS = {"small": dict(c1=16, c2=32, te=64), "base": dict(c1=32, c2=64, te=128)}


def main():
    preset = sys.argv[1] if len(sys.argv) > 1 else "base"
    batches = [int(b) for b in sys.argv[2:]] or [64, 128]
    torch.manual_seed(0)
    model = UNet(**PRESETS[preset])
    print(f"preset {preset}: {sum(p.numel() for p in model.parameters())} parameters "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    for batch in batches:
        x = torch.randn(batch, 1, 28, 28)
        target = torch.randn(batch, 1, 28, 28)
        ts = torch.tensor([1 + (i * 997) % 1000 for i in range(batch)])
        train, fwd = [], []
        for i in range(7):
            t0 = time.perf_counter()
            loss = F.mse_loss(model(x, ts), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            with torch.no_grad():
                model(x, ts)
            t2 = time.perf_counter()
            if i > 0:  # the first step warms up allocators and kernels
                train.append(t1 - t0)
                fwd.append(t2 - t1)
        print(f"batch {batch}: train step {median(train):.3f} s, forward {median(fwd):.3f} s (medians of 6)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
