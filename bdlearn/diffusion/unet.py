"""The ADM UNet: the noise-prediction network ε_θ(x_t, t) of guided-diffusion.

Blended Diffusion edits with the 256x256 unconditional model of Dhariwal & Nichol, "Diffusion
Models Beat GANs on Image Synthesis" (2021), whose architecture is called ADM. This module builds
that architecture from its constructor arguments so that:

* the released checkpoint ``256x256_diffusion_uncond.pt`` loads with ``strict=True`` (every
  parameter has the reference's name and shape), and
* the outputs equal the reference's (checked against fixtures in ``tests/test_conformance_unet.py``).

The network, top to bottom:

* a sinusoidal embedding of the timestep t (cosine half first, then sine), passed through a
  two-layer MLP (``time_embed``) to give ``emb``, which every residual block receives;
* ``input_blocks``: a 3x3 convolution, then per resolution level ``num_res_blocks`` residual blocks
  (each followed by self-attention at the chosen downsample factors) and one downsampling step;
* ``middle_block``: residual block, attention, residual block;
* ``output_blocks``: the mirror image, each block first concatenating the matching skip
  activation from the way down;
* ``out``: GroupNorm, SiLU, 3x3 convolution to ``out_channels`` (6 with a learned variance:
  ε in channels 0..2 and the variance interpolation v of IDDPM eq. 15 in channels 3..5).

Taught in notebook 02 (the reverse process).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from bdlearn.checks import checked_integer, checked_real, shown
from bdlearn.diffusion.checks import check_model_dtype, check_module

AttentionKernel = Literal["sdpa", "einsum"]


@dataclass(frozen=True)
class UNetConfig:
    """Constructor arguments of the ADM UNet, with the reference's names.

    ``attention_resolutions`` are *downsample factors* (1 = full resolution, 2 = half, ...), as the
    reference's ``UNetModel`` takes them; :meth:`pixel_to_factor` converts the pixel sizes
    used on guided-diffusion's command line (``"32,16,8"`` at 256 -> factors 8, 16, 32).
    """

    image_size: int = 256
    in_channels: int = 3
    model_channels: int = 256
    out_channels: int = 6
    #: Residual blocks per resolution level on the way down (the way up has one more per level):
    #: one number for every level, as the reference takes it, or one per level (a tuple as long as
    #: ``channel_mult``), which bdlearn adds so that a trained toy UNet can be grown where it
    #: needs capacity (:mod:`bdlearn.training.grow`). A tuple of equal counts becomes that one number.
    num_res_blocks: int | tuple[int, ...] = 2
    attention_resolutions: tuple[int, ...] = (8, 16, 32)
    dropout: float = 0.0
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    conv_resample: bool = True
    num_heads: int = 4
    num_head_channels: int = 64
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    use_fp16: bool = False
    use_new_attention_order: bool = False
    attention_kernel: AttentionKernel = field(default="sdpa", compare=False)
    #: Groups of every GroupNorm. guided-diffusion always uses 32, which suits its 128-256
    #: channels (groups of 4-8). With only 32 channels, 32 groups would normalise each channel on
    #: its own (instance norm) and erase each channel's spatial mean: the network could no longer
    #: see, or predict, an image's overall colour. The toy UNet therefore uses 8.
    norm_groups: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        object.__setattr__(self, "channel_mult", tuple(self.channel_mult))
        for name in ("in_channels", "model_channels", "out_channels"):
            checked_integer(name, getattr(self, name), 1)
        if not self.channel_mult:
            raise ValueError("channel_mult must give at least one level's channel multiplier, got ()")
        if not isinstance(self.num_res_blocks, int):
            counts = tuple(self.num_res_blocks)
            if len(counts) != len(self.channel_mult):
                raise ValueError(f"num_res_blocks {counts} must give one count per level of "
                                 f"channel_mult {self.channel_mult}")
            # one count for every level is stored as the reference's single number, so that equal
            # architectures have equal configs
            object.__setattr__(self, "num_res_blocks", counts[0] if len(set(counts)) == 1 else counts)
        if min(self.blocks_per_level) < 1:
            raise ValueError(f"every level needs at least one residual block, got num_res_blocks={self.num_res_blocks}")
        if self.attention_kernel not in ("sdpa", "einsum"):
            raise ValueError(f"attention_kernel must be 'sdpa' or 'einsum', got {self.attention_kernel!r}")
        if self.norm_groups < 1 or self.model_channels % self.norm_groups:
            raise ValueError(f"model_channels ({self.model_channels}) must be a multiple of norm_groups "
                             f"({self.norm_groups})")
        factors = tuple(2**level for level in range(len(self.channel_mult)))
        missing = sorted(set(self.attention_resolutions) - set(factors))
        if missing:
            raise ValueError(f"attention_resolutions are downsample factors, and this UNet's levels have {factors} "
                             f"(channel_mult {self.channel_mult}): no level has {missing}")
        if self.num_head_channels == -1:
            checked_integer("num_heads", self.num_heads, 1, hint=" (with num_head_channels=-1 it sets the heads)")
        else:
            checked_integer("num_head_channels", self.num_head_channels, 1, hint=" (or -1: num_heads sets the heads)")
        if self.num_heads_upsample != -1 and self.num_head_channels == -1:
            checked_integer("num_heads_upsample", self.num_heads_upsample, 1, hint=" (or -1: as num_heads)")
        checked_real("dropout", self.dropout, 0.0, 1.0, hint=" (the probability of zeroing an activation, as torch's "
                     "Dropout takes it)")

    @property
    def blocks_per_level(self) -> tuple[int, ...]:
        """``num_res_blocks`` as one count per resolution level."""
        if isinstance(self.num_res_blocks, int):
            return (self.num_res_blocks,) * len(self.channel_mult)
        return self.num_res_blocks

    @classmethod
    def from_dict(cls, kwargs: dict) -> "UNetConfig":
        """Build from a dict of the reference's ``UNetModel`` keyword arguments.

        Keys that only matter to other model families (``dims``, ``num_classes``,
        ``use_checkpoint``) are accepted when they have their image-model, unconditional values.
        """
        kwargs = dict(kwargs)
        dims = kwargs.pop("dims", 2)
        num_classes = kwargs.pop("num_classes", None)
        kwargs.pop("use_checkpoint", None)  # gradient checkpointing only; no effect on values
        if dims != 2 or num_classes is not None:
            raise ValueError("bdlearn's UNet is the 2-D unconditional ADM (dims=2, num_classes=None)")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"unknown UNet arguments: {unknown}")
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def pixel_to_factor(image_size: int, resolutions: tuple[int, ...]) -> tuple[int, ...]:
        """Convert attention resolutions in pixels to downsample factors (ds = image_size // res)."""
        return tuple(image_size // r for r in resolutions)


def adm256_uncond_config(**overrides) -> UNetConfig:
    """The configuration of ``256x256_diffusion_uncond.pt``, the DDPM Blended Diffusion uses.

    Its flags: 256 channels, 2 residual blocks per level, channel multipliers (1, 1, 2, 2, 4, 4),
    attention at 32, 16 and 8 pixels with 64 channels per head, scale-shift norm, residual
    up/down sampling and a learned variance (6 output channels): 552,814,086 parameters.
    """
    return UNetConfig(**overrides)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal features of (possibly fractional) timesteps, as in "Attention Is All You Need".

    For frequencies ω_i = max_period^(−i/half), i = 0..half−1, returns [cos(t·ω), sin(t·ω)]
    (cosine half first), zero-padded when ``dim`` is odd. Computed in ``dtype`` (float32 like the
    reference; float64 for a float64 model).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype, device=timesteps.device) / half)
    args = timesteps[:, None].to(dtype) * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class GroupNorm32(nn.GroupNorm):
    """GroupNorm (32 groups unless told otherwise), computed in at least float32 even when the
    torso runs in float16; the reference's class of the same name.

    For a float16 (or bfloat16) input the float32 copy that the norm reads would be kept for the
    backward pass, twice the bytes of the input, in every norm of the network. Where gradients
    are being recorded, bdlearn keeps only the half-precision input and makes the float32 copy
    again in the backward pass (:func:`torch.utils.checkpoint.checkpoint`). The values and
    gradients are the same; the reference keeps the copies.
    """

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype.itemsize < 4 and x.is_floating_point() and torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(self._norm_in_float32, x, use_reentrant=False, preserve_rng_state=False)
        return self._norm_in_float32(x)

    def _norm_in_float32(self, x: torch.Tensor) -> torch.Tensor:
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        return super().forward(x.to(compute_dtype)).to(x.dtype)


class TimestepSequential(nn.Sequential):
    """A sequence of layers; residual blocks among them also receive the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class Downsample(nn.Module):
    """Halve the resolution: a stride-2 3x3 convolution, or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        else:
            if out_channels != channels:
                raise ValueError("average pooling cannot change the channel count")
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour x2, optionally followed by a 3x3 convolution."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.conv = nn.Conv2d(channels, out_channels, 3, padding=1) if use_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding.

    h = conv(SiLU(GN(x))); then either scale-shift norm, h = GN(h)·(1 + scale) + shift with
    (scale, shift) = Linear(SiLU(emb)), or the additive form h = h + Linear(SiLU(emb)); then
    SiLU, dropout and a second conv; the output is skip(x) + h. With ``up``/``down`` the block
    also resamples (nearest x2 / 2x2 average pooling), applied to both branches after the first
    norm and SiLU.
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, up: bool = False, down: bool = False,
                 norm_groups: int = 32) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(channels, norm_groups), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.resample: nn.Module | None
        if up:
            self.resample = Upsample(channels, use_conv=False)
        elif down:
            self.resample = Downsample(channels, use_conv=False)
        else:
            self.resample = None
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels, norm_groups), nn.SiLU(), nn.Dropout(p=dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1))
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.resample is not None:
            norm_act, conv = self.in_layers[:-1], self.in_layers[-1]
            h = conv(self.resample(norm_act(x)))
            x = self.resample(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            norm, rest = self.out_layers[0], self.out_layers[1:]
            scale, shift = emb_out.chunk(2, dim=1)
            h = rest(norm(h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all pixels, with a residual connection.

    q, k, v come from one 1x1 convolution of GN(x). In the legacy head order (the released
    checkpoints') the [B, 3C, T] tensor is split into heads first and then into q, k, v; in the
    new order it is split into q, k, v first. Each head computes softmax(qᵀk / √d) v.
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 use_new_attention_order: bool = False, kernel: AttentionKernel = "sdpa",
                 norm_groups: int = 32) -> None:
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"{channels} channels do not split into heads of {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.use_new_attention_order = use_new_attention_order
        self.kernel = kernel
        self.norm = GroupNorm32(channels, norm_groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def split_heads(self, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[B, 3·H·d, T] -> q, k, v, each [B·H, d, T], in the legacy or the new head order."""
        batch, width, length = qkv.shape
        head_dim = width // (3 * self.num_heads)
        if self.use_new_attention_order:
            q, k, v = qkv.chunk(3, dim=1)
            return tuple(z.reshape(batch * self.num_heads, head_dim, length) for z in (q, k, v))  # type: ignore[return-value]
        return qkv.reshape(batch * self.num_heads, 3 * head_dim, length).split(head_dim, dim=1)  # type: ignore[return-value]

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(qᵀk / √d) v for [N, d, T] tensors, returning [N, d, T].

        The fused kernels of ``scaled_dot_product_attention`` (flash attention on the CPU and on
        CUDA) need [batch, heads, T, d] tensors whose last dimension is contiguous; given transposed
        views they fall back to the unfused math kernel. So q, k and v are laid out as one batch of
        N = B·H heads, [1, N, T, d], contiguous.
        """
        if self.kernel == "sdpa":
            q, k, v = (z.transpose(1, 2).contiguous()[None] for z in (q, k, v))
            return F.scaled_dot_product_attention(q, k, v)[0].transpose(1, 2)
        scale = q.shape[1] ** -0.25  # applied to q and k alike: (qk)/√d, more stable in float16
        weight = torch.einsum("nct,ncs->nts", q * scale, k * scale)
        weight = torch.softmax(weight.to(torch.promote_types(weight.dtype, torch.float32)), dim=-1).to(q.dtype)
        return torch.einsum("nts,ncs->nct", weight, v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, *spatial = x.shape
        x = x.reshape(batch, channels, -1)
        q, k, v = self.split_heads(self.qkv(self.norm(x)))
        h = self.attend(q, k, v).reshape(batch, channels, -1)
        return (x + self.proj_out(h)).reshape(batch, channels, *spatial)


class UNet(nn.Module):
    """The ADM UNet ε_θ(x_t, t): returns ε (and v with a learned variance) for images x_t.

    ``forward(x, timesteps)`` takes x of shape [B, in_channels, H, W] and float or integer
    timesteps of shape [B] (the *original* 0..999 scale: a respaced sampler maps its step index
    through ``timestep_map`` first), and returns [B, out_channels, H, W] in x's dtype.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = c = config
        time_dim = 4 * c.model_channels
        heads_up = c.num_heads if c.num_heads_upsample == -1 else c.num_heads_upsample
        self.time_embed = nn.Sequential(nn.Linear(c.model_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))

        def res(ch_in: int, ch_out: int, up: bool = False, down: bool = False) -> ResBlock:
            return ResBlock(ch_in, time_dim, c.dropout, ch_out, c.use_scale_shift_norm, up=up, down=down,
                            norm_groups=c.norm_groups)

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(ch, heads, c.num_head_channels, c.use_new_attention_order, c.attention_kernel,
                                  c.norm_groups)

        ch = int(c.channel_mult[0] * c.model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        skip_channels = [ch]
        ds = 1
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.blocks_per_level[level]):
                layers: list[nn.Module] = [res(ch, int(mult * c.model_channels))]
                ch = int(mult * c.model_channels)
                if ds in c.attention_resolutions:
                    layers.append(attn(ch, c.num_heads))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_channels.append(ch)
            if level != len(c.channel_mult) - 1:
                down = res(ch, ch, down=True) if c.resblock_updown else Downsample(ch, c.conv_resample)
                self.input_blocks.append(TimestepSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = TimestepSequential(res(ch, ch), attn(ch, c.num_heads), res(ch, ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            for i in range(c.blocks_per_level[level] + 1):
                layers = [res(ch + skip_channels.pop(), int(c.model_channels * mult))]
                ch = int(c.model_channels * mult)
                if ds in c.attention_resolutions:
                    layers.append(attn(ch, heads_up))
                if level and i == c.blocks_per_level[level]:
                    layers.append(res(ch, ch, up=True) if c.resblock_updown else Upsample(ch, c.conv_resample))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch, c.norm_groups), nn.SiLU(), nn.Conv2d(ch, c.out_channels, 3, padding=1))
        if c.use_fp16:
            self.convert_to_fp16()

    @property
    def torso_dtype(self) -> torch.dtype:
        """The dtype the input, middle and output blocks run in (float16 after :meth:`convert_to_fp16`)."""
        return self.input_blocks[0][0].weight.dtype

    def convert_to_fp16(self) -> "UNet":
        """Cast the torso's convolutions to float16, as the reference's ``use_fp16`` does.

        Only Conv1d/Conv2d weights and biases inside ``input_blocks``, ``middle_block`` and
        ``output_blocks`` change; the timestep MLP, every GroupNorm, the embedding projections
        and the output head stay float32.
        """
        for torso in (self.input_blocks, self.middle_block, self.output_blocks):
            for module in torso.modules():
                if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                    module.half()
        return self

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor | int) -> torch.Tensor:
        """ε (and v) for ``x`` at ``timesteps``: a tensor [B], or an int for every image.

        ``x`` must have the dtype of the weights the network starts with (float32, also under ``use_fp16``); only
        dtypes and shapes are checked, so no step waits for the GPU.
        """
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected x of shape [B, {self.config.in_channels}, H, W], got {tuple(x.shape)}")
        check_model_dtype("x", x, self)
        if isinstance(timesteps, numbers.Integral) and not isinstance(timesteps, bool):
            timesteps = torch.full((x.shape[0],), int(timesteps), device=x.device)
        if not isinstance(timesteps, torch.Tensor):
            raise TypeError(f"timesteps must be a tensor [B] or an int, got {shown(timesteps)}")
        if timesteps.ndim != 1 or timesteps.shape[0] != x.shape[0]:
            raise ValueError(f"expected timesteps of shape [{x.shape[0]}], got {tuple(timesteps.shape)}")
        levels = len(self.config.channel_mult) - 1
        if x.shape[-1] % 2**levels or x.shape[-2] % 2**levels:
            raise ValueError(f"H and W must be divisible by {2**levels}, got {tuple(x.shape[-2:])}")
        embed_dtype = torch.promote_types(self.time_embed[0].weight.dtype, torch.float32)
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels, dtype=embed_dtype))
        h = x.to(self.torso_dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.to(x.dtype))


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``, a torch module."""
    check_module("count_parameters", model)
    return sum(p.numel() for p in model.parameters())
