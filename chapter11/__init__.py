"""chapter11: the tested package behind the GAN course's notebooks.

Submodules: data, losses, models, train, checkpoint, plotting, cli. Import them directly,
e.g. `from chapter11.train import TrainConfig, train`.
"""
__version__ = "0.1.0"
