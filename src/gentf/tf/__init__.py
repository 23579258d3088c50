"""TensorFlow generative functions: ``TFFunction`` in GenTF's graph form and in a TF2 eager form."""
from .function import TFFunction, TFTrace, get_param_grad_tf_var, reset_param_grads_tf_op
from .eager_form import EagerTFFunction
from .graph_form import GraphTFFunction, get_session, runtf

__all__ = ["TFFunction", "TFTrace", "EagerTFFunction", "GraphTFFunction", "get_session", "runtf",
           "get_param_grad_tf_var", "reset_param_grads_tf_op"]
