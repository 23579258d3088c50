"""Learning: parameter-update configurations, ``ParamUpdate`` and ``train`` (Gen.jl's
``train!``)."""
from .optimizers import ADAM, FixedStepGradientDescent, GradientDescent, UpdateConf
from .param_update import ParamUpdate
from .train import train
from .checkpoint import CheckpointError

__all__ = ["ADAM", "FixedStepGradientDescent", "GradientDescent", "UpdateConf", "ParamUpdate", "train", "CheckpointError"]
