"""Run by tests/test_distributed.py under `torchrun --nproc_per_node=2`: a few WGAN-GP steps on toy
data, checking after every step that all ranks hold identical parameters. Rank 0 saves the
initial and final parameters and the per-step differences to OUT/ddp_result.pt."""
import sys

import torch
import torch.distributed as dist

from chapter11.data import toy_distribution
from chapter11.distributed import teardown
from chapter11.models import ToyDiscriminator, ToyGenerator
from chapter11.train import Callback, Trainer, TrainConfig


def flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


class SameEverywhere(Callback):
    def __init__(self):
        self.max_diffs = []

    def on_step_end(self, trainer):
        mine = torch.cat([flat(trainer.G), flat(trainer.D)])
        everyone = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(everyone, mine)
        self.max_diffs.append(max((e - everyone[0]).abs().max().item() for e in everyone))


def main(out):
    torch.manual_seed(0)
    G, D = ToyGenerator(width=32), ToyDiscriminator(width=32)
    init = {"G": flat(G), "D": flat(D)}
    cfg = TrainConfig(loss="wgan-gp", steps=4, batch_size=16, n_critic=2, gp_weight=0.1, lr_g=1e-3, lr_d=1e-3,
                      betas=(0.5, 0.9), seed=5, device="cpu", progress=False, log_every=1)
    check = SameEverywhere()
    trainer = Trainer(G, D, toy_distribution("ring8"), cfg)
    trainer.fit(callbacks=[check])
    try:  # SyncBatchNorm has no CPU kernel: asking for it on the CPU must be refused in words
        Trainer(ToyGenerator(width=8), ToyDiscriminator(width=8), toy_distribution("ring8"),
                TrainConfig(sync_batchnorm=True, device="cpu", progress=False))
        syncbn_error = ""
    except ValueError as err:
        syncbn_error = str(err)
    if trainer.dist.is_main:
        torch.save({"init": init, "final": {"G": flat(G), "D": flat(D)}, "max_diffs": check.max_diffs,
                    "world_size": dist.get_world_size(), "syncbn_error": syncbn_error}, f"{out}/ddp_result.pt")
    del trainer
    teardown()


if __name__ == "__main__":
    main(sys.argv[1])
