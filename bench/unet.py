"""The course's MNIST UNet (crates/ddpm-unet, `MnistUNet`) rebuilt layer for layer in PyTorch,
timed the same way as `cargo run --release -p ddpm-unet --example unet_step`: one training step
(forward + MSE + backward + Adam) and one forward pass, medians of 6 after a warm-up, at batch 64
and 128. Prints the parameter count first, which must equal the Rust model's (596,001).

usage: python bench/unet.py   (needs torch; CPU only)
"""
import math
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
    def __init__(self, ci, co, te, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, ci)
        self.conv1 = nn.Conv2d(ci, co, 3, padding=1)
        self.time = nn.Linear(te, co)
        self.norm2 = nn.GroupNorm(groups, co)
        self.conv2 = nn.Conv2d(co, co, 3, padding=1)
        self.skip = nn.Identity() if ci == co else nn.Conv2d(ci, co, 1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
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
    def __init__(self, c1=32, c2=64, te=128, heads=4, groups=8):
        super().__init__()
        self.te = te
        self.time1, self.time2 = nn.Linear(te, te), nn.Linear(te, te)
        self.conv_in = nn.Conv2d(1, c1, 3, padding=1)
        self.down1 = ResBlock(c1, c1, te, groups)
        self.ds1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2 = ResBlock(c1, c2, te, groups)
        self.ds2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid1 = ResBlock(c2, c2, te, groups)
        self.attn = Attention(c2, heads, groups)
        self.mid2 = ResBlock(c2, c2, te, groups)
        self.us2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.up2 = ResBlock(2 * c2, c2, te, groups)
        self.us1 = nn.Conv2d(c2, c2, 3, padding=1)
        self.up1 = ResBlock(c1 + c2, c1, te, groups)
        self.norm_out = nn.GroupNorm(groups, c1)
        self.conv_out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x, ts):
        temb = self.time2(F.silu(self.time1(timestep_embedding(ts, self.te))))
        h1 = self.down1(self.conv_in(x), temb)
        h2 = self.down2(self.ds1(h1), temb)
        m = self.mid1(self.ds2(h2), temb)
        m = self.mid2(self.attn(m), temb)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        u2 = self.up2(torch.cat([self.us2(up(m)), h2], dim=1), temb)
        u1 = self.up1(torch.cat([self.us1(up(u2)), h1], dim=1), temb)
        return self.conv_out(F.silu(self.norm_out(u1)))


def median(v):
    return sorted(v)[len(v) // 2]


def main():
    torch.manual_seed(0)
    model = UNet()
    print(f"UNet: {sum(p.numel() for p in model.parameters())} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    for batch in (64, 128):
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


if __name__ == "__main__":
    main()
