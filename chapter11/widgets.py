"""Interactive widgets for the notebooks: a GAN Lab for 2-D data and a latent-space explorer.

Each widget is a plain Python object that holds the state and computes what is drawn (points,
heat map, arrows, images); `.ui()` puts ipywidgets controls on top. Tests drive the objects
directly, without a browser. Drawing goes through one persistent matplotlib Figure rendered to
PNG, which is several times faster than re-plotting from scratch on every update.
"""
from __future__ import annotations

import io

import torch
from torch import Tensor

from .data import TOY_DISTRIBUTIONS, toy_distribution
from .losses import LOSSES
from .models import ToyDiscriminator, ToyGenerator
from .train import Trainer, TrainConfig


# ----------------------------------------------------------------------------- latent arithmetic

def lerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Straight line from a to b: (1 - t) a + t b."""
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation: along the great circle between the directions of a and b.

    slerp = sin((1-t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b with cos Ω = â·b̂. Gaussian latents live
    near a sphere of radius √d, and the straight line cuts through its low-density inside;
    slerp stays at the endpoints' radius when they have equal norms.
    """
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.arccos((a_n * b_n).sum(-1, keepdim=True).clamp(-1.0, 1.0))  # (..., 1)
    so = torch.sin(omega)
    if bool((so.abs() < 1e-6).any()):  # (anti)parallel codes: the circle is undefined, use the line
        return lerp(a, b, t)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def _png(fig) -> bytes:
    """Draw once with Agg and encode with light compression: about twice as fast as savefig."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    w, h = canvas.get_width_height()
    buf = io.BytesIO()
    Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


# ----------------------------------------------------------------------------- GAN Lab

class GANLab:
    """Train a GAN on 2-D data one click at a time and watch every part of it.

    The view shows real (grey) and generated (orange) points over the discriminator's output
    as a heat map, arrows for the direction in which the generator's loss pushes each fake
    point (−∇ₓ L_G), the loss curves, and the coverage meter (modes, high-quality %).
    """

    GRID = 60  # heat-map resolution per side

    def __init__(self, dist: str = "ring8", loss: str = "nonsaturating", n_critic: int = 1, lr_g: float = 1e-3,
                 lr_d: float = 1e-3, gp_weight: float = 0.1, batch_size: int = 256, width: int = 128,
                 steps_per_update: int = 5, seed: int = 0):
        if dist not in TOY_DISTRIBUTIONS:
            raise ValueError(f"Unknown distribution {dist!r}; choose from {', '.join(TOY_DISTRIBUTIONS)}.")
        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; choose from {', '.join(LOSSES)}.")
        self.dist_name, self.loss_name = dist, loss
        self.n_critic, self.lr_g, self.lr_d, self.gp_weight = n_critic, lr_g, lr_d, gp_weight
        self.batch_size, self.width, self.steps_per_update, self.seed = batch_size, width, steps_per_update, seed
        self._ui = None
        self.reset()

    # -- state -----------------------------------------------------------------

    def reset(self) -> None:
        """New models and optimisers from the seed; the curves start again."""
        self.dist = toy_distribution(self.dist_name)
        with torch.random.fork_rng():  # seeded initialisation without touching the caller's global RNG
            torch.manual_seed(self.seed)
            G, D = ToyGenerator(width=self.width), ToyDiscriminator(width=self.width)
        cfg = TrainConfig(loss=self.loss_name, steps=10 ** 9, batch_size=self.batch_size, n_critic=self.n_critic,
                          lr_g=self.lr_g, lr_d=self.lr_d, betas=(0.5, 0.9), gp_weight=self.gp_weight, seed=self.seed,
                          device="cpu", progress=False)
        self.trainer = Trainer(G, D, self.dist, cfg)
        g = torch.Generator().manual_seed(self.seed + 2)
        self.real = self.dist.sample(500, g)  # (500, 2) shown in grey
        self.z_view = torch.randn(500, 2, generator=g)  # (500, 2) fixed noise for the orange points
        self.z_score = torch.randn(2500, 2, generator=g)  # the coverage protocol's 2,500 samples
        lo, hi = self.real.min(0).values, self.real.max(0).values
        pad = 0.25 * (hi - lo).max()
        self.box = (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))
        self.curves = {"d_loss": [], "g_loss": []}
        self.d_steps = self.g_steps = 0

    def set_learning_rates(self, lr_g: float | None = None, lr_d: float | None = None) -> None:
        """Change the learning rates of the running optimisers (no reset)."""
        for opt, lr, name in ((self.trainer.opt_g, lr_g, "lr_g"), (self.trainer.opt_d, lr_d, "lr_d")):
            if lr is not None:
                setattr(self, name, lr)
                for group in opt.param_groups:
                    group["lr"] = lr

    def set_n_critic(self, n: int) -> None:
        self.n_critic = self.trainer.config.n_critic = int(n)

    def _record(self) -> None:
        last = self.trainer.last
        for key in self.curves:
            if key in last:
                self.curves[key].append(float(last[key]))  # one sync per click: fine at 5-10 updates/s

    def step_d(self) -> None:
        """One critic update."""
        self.trainer.critic_step()
        self.d_steps += 1
        self._record()

    def step_g(self) -> None:
        """One generator update."""
        self.trainer.generator_step()
        self.g_steps += 1
        self._record()

    def step(self, n: int | None = None) -> None:
        """n (default steps_per_update) rounds of n_critic critic updates and one generator update."""
        for _ in range(n or self.steps_per_update):
            self.trainer.train_step()
            self.d_steps += self.n_critic
            self.g_steps += 1
        self._record()

    # -- what is drawn --------------------------------------------------------------

    @torch.no_grad()
    def fake_points(self) -> Tensor:
        return self.trainer.G(self.z_view)  # (500, 2)

    @torch.no_grad()
    def heatmap(self) -> Tensor:
        """D's raw output on a GRID × GRID lattice over the view box, rows from bottom to top."""
        x0, x1, y0, y1 = self.box
        xs, ys = torch.linspace(x0, x1, self.GRID), torch.linspace(y0, y1, self.GRID)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)  # (GRID², 2)
        D = self.trainer.D
        if getattr(D, "pack", 1) > 1:  # a packed critic scores groups: repeat each point to fill its pack
            out = D(grid.repeat_interleave(D.pack, 0))
        else:
            out = D(grid)
        return out.reshape(self.GRID, self.GRID)  # (GRID, GRID)

    def gradient_arrows(self, n: int = 60) -> tuple[Tensor, Tensor]:
        """(points (n, 2), directions (n, 2)): −∇ₓ L_G at n fake points, the way G is pushed to move them."""
        G, D = self.trainer.G, self.trainer.D
        with torch.no_grad():
            x = G(self.z_view[:n])
        x.requires_grad_(True)
        loss = self.trainer.loss
        real_out = D(self.real[:n]) if loss.g_uses_real else None
        g = torch.autograd.grad(loss.g_loss(real_out, D(x)), x)[0]  # (n, 2)
        D.zero_grad(set_to_none=True)
        return x.detach(), -g

    @torch.no_grad()
    def coverage(self) -> dict | None:
        """The mode-coverage score of 2,500 samples (None for the swiss roll, which has no modes)."""
        if self.dist.centers is None:
            return None
        return self.dist.score(self.trainer.G(self.z_score))

    # -- drawing ------------------------------------------------------------------------

    def _build_figure(self):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.4, 4.0), dpi=72)
        ax, axl = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        x0, x1, y0, y1 = self.box
        self._im = ax.imshow(torch.zeros(self.GRID, self.GRID).numpy(), origin="lower", extent=self.box, cmap="RdBu_r",
                             aspect="auto", interpolation="bilinear")
        ax.scatter(*self.real.numpy().T, s=3, c="0.35", label="real")
        self._fake = ax.scatter(*self.fake_points().numpy().T, s=3, c="tab:orange", label="generated")
        pts, dirs = self.gradient_arrows()
        self._quiver = ax.quiver(*pts.numpy().T, *dirs.numpy().T, color="k", width=0.004, alpha=0.6)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xticks([])  # tick labels are the slowest thing to draw, and say little here
        ax.set_yticks([])
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
        self._lines = {k: axl.plot([], [], label=k)[0] for k in self.curves}
        axl.set_xlabel("update")
        axl.legend(fontsize=7)
        self._axl, self._ax = axl, ax
        fig.tight_layout()
        self._fig = fig

    def render(self) -> bytes:
        """The current view as PNG bytes."""
        if getattr(self, "_fig", None) is None or getattr(self, "_fig_box", None) != self.box:
            self._build_figure()
            self._fig_box = self.box
        h = self.heatmap()
        self._im.set_data(h.numpy())
        lim = float(h.abs().max()) or 1.0
        self._im.set_clim(-lim, lim)  # symmetric: white is "undecided"
        self._fake.set_offsets(self.fake_points().numpy())
        pts, dirs = self.gradient_arrows()
        norm = dirs.norm(dim=1, keepdim=True).max().clamp_min(1e-12)
        scale = 0.08 * (self.box[1] - self.box[0])  # arrows at most 8 % of the view wide
        self._quiver.set_offsets(pts.numpy())
        self._quiver.set_UVC(*(dirs / norm * scale).T.numpy())
        for k, line in self._lines.items():
            ys = self.curves[k]
            line.set_data(range(len(ys)), ys)
        self._axl.relim()
        self._axl.autoscale_view()
        cov = self.coverage()
        title = f"{self.loss_name}: {self.g_steps} G / {self.d_steps} D updates"
        if cov:
            title += f" · modes {cov['modes']}/{len(self.dist.centers)} · HQ {100 * cov['high_quality']:.0f} %"
        self._ax.set_title(title, fontsize=9)
        return _png(self._fig)

    # -- the ipywidgets front end -------------------------------------------------------

    def ui(self):
        """Controls + live view. Play runs `step()` on a timer; everything else is one click."""
        import ipywidgets as W

        dist = W.Dropdown(options=list(TOY_DISTRIBUTIONS), value=self.dist_name, description="data")
        loss = W.Dropdown(options=list(LOSSES), value=self.loss_name, description="loss")
        ncrit = W.IntSlider(value=self.n_critic, min=1, max=10, description="n_critic")
        lr_g = W.FloatLogSlider(value=self.lr_g, base=10, min=-5, max=-2, description="lr G", readout_format=".0e")
        lr_d = W.FloatLogSlider(value=self.lr_d, base=10, min=-5, max=-2, description="lr D", readout_format=".0e")
        play = W.Play(interval=150, max=10 ** 9, description="play")
        b_d, b_g, b_reset = W.Button(description="step D"), W.Button(description="step G"), W.Button(description="reset")
        view = W.Image(format="png", value=self.render())

        def redraw(*_):
            view.value = self.render()

        def on_choice(change):
            self.dist_name, self.loss_name = dist.value, loss.value
            self.reset()
            redraw()

        dist.observe(on_choice, "value")
        loss.observe(on_choice, "value")
        ncrit.observe(lambda c: self.set_n_critic(c["new"]), "value")
        lr_g.observe(lambda c: self.set_learning_rates(lr_g=c["new"]), "value")
        lr_d.observe(lambda c: self.set_learning_rates(lr_d=c["new"]), "value")
        play.observe(lambda c: (self.step(), redraw()), "value")
        b_d.on_click(lambda _: (self.step_d(), redraw()))
        b_g.on_click(lambda _: (self.step_g(), redraw()))
        b_reset.on_click(lambda _: (self.reset(), redraw()))
        self._ui = dict(dist=dist, loss=loss, n_critic=ncrit, lr_g=lr_g, lr_d=lr_d, play=play, step_d=b_d, step_g=b_g,
                        reset=b_reset, view=view)
        return W.VBox([W.HBox([dist, loss, ncrit]), W.HBox([lr_g, lr_d]), W.HBox([play, b_d, b_g, b_reset]), view])


# ----------------------------------------------------------------------------- latent explorer

class LatentExplorer:
    """Move through a generator's latent space: sliders along fixed directions, a class picker
    for conditional models, and interpolation (linear or spherical) between two codes."""

    def __init__(self, generator: torch.nn.Module, n_sliders: int = 6, seed: int = 0, scale: float = 3.0):
        if not isinstance(getattr(generator, "latent_dim", None), int):
            raise ValueError("The generator needs an int attribute `latent_dim`.")
        self.G = generator.eval()
        self.device = next(generator.parameters()).device
        d = generator.latent_dim
        self.gen = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=self.gen))  # random orthonormal directions
        self.directions = q[:, : min(n_sliders, d)].T  # (k, d)
        self.offsets = torch.zeros(len(self.directions))  # (k,) slider values
        self.scale = scale
        self.z_a = torch.randn(d, generator=self.gen)  # (d,)
        self.z_b = torch.randn(d, generator=self.gen)  # (d,)
        self.t, self.mode = 0.0, "spherical"
        self.num_classes = getattr(generator, "num_classes", None)
        self.label = 0 if self.num_classes else None

    def z(self) -> Tensor:
        """The current code: the interpolated point plus the slider offsets along the directions."""
        base = (slerp if self.mode == "spherical" else lerp)(self.z_a, self.z_b, self.t)
        return base + self.offsets @ self.directions  # (d,)

    def set_slider(self, i: int, value: float) -> None:
        self.offsets[i] = float(value)

    def new_sample(self) -> None:
        """Draw a new start code (and end code) and centre the sliders."""
        self.z_a = torch.randn(self.G.latent_dim, generator=self.gen)
        self.z_b = torch.randn(self.G.latent_dim, generator=self.gen)
        self.offsets.zero_()

    @torch.no_grad()
    def image(self) -> Tensor:
        """The generator's output for the current code, (C, H, W) in [-1, 1]."""
        args = () if self.num_classes is None else (torch.tensor([self.label], device=self.device),)
        return self.G(self.z()[None].to(self.device), *args)[0].cpu()

    @torch.no_grad()
    def interpolation_strip(self, steps: int = 8) -> Tensor:
        """(steps, C, H, W): from z_a to z_b with the current mode, for a side-by-side view."""
        keep = self.t
        frames = []
        for t in torch.linspace(0, 1, steps).tolist():
            self.t = t
            frames.append(self.image())
        self.t = keep
        return torch.stack(frames)

    def render(self) -> bytes:
        from PIL import Image

        from .plotting import image_grid

        grid = image_grid(self.image()[None], nrow=1, padding=0)  # (C, H, W) in [0, 1]
        arr = (grid.mul(255).round().byte().permute(1, 2, 0).numpy())
        im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        im = im.resize((192, 192), Image.NEAREST)  # big enough to see strokes
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()

    def ui(self):
        import ipywidgets as W

        view = W.Image(format="png", value=self.render())

        def redraw(*_):
            view.value = self.render()

        sliders = []
        for i in range(len(self.offsets)):
            s = W.FloatSlider(value=0.0, min=-self.scale, max=self.scale, step=0.1, description=f"dir {i + 1}",
                              continuous_update=True)
            s.observe(lambda c, i=i: (self.set_slider(i, c["new"]), redraw()), "value")
            sliders.append(s)
        t = W.FloatSlider(value=self.t, min=0.0, max=1.0, step=0.05, description="a → b")
        t.observe(lambda c: (setattr(self, "t", c["new"]), redraw()), "value")
        mode = W.ToggleButtons(options=["spherical", "linear"], value=self.mode, description="path")
        mode.observe(lambda c: (setattr(self, "mode", c["new"]), redraw()), "value")
        new = W.Button(description="new sample")

        def on_new(_):
            self.new_sample()
            for s in sliders:
                s.value = 0.0
            redraw()

        new.on_click(on_new)
        controls = [*sliders, t, mode, new]
        if self.num_classes:
            label = W.Dropdown(options=list(range(self.num_classes)), value=self.label, description="class")
            label.observe(lambda c: (setattr(self, "label", c["new"]), redraw()), "value")
            controls.insert(0, label)
        self._ui = dict(view=view, sliders=sliders, t=t, mode=mode, new=new)
        return W.HBox([W.VBox(controls), view])


