"""A small deep-learning framework written by hand on tensors: no autograd, no Lightning."""

from framework.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from framework.gradcheck import GradcheckError, adjoint_test, gradcheck, jacobian, taylor_test
from framework.layers import Dropout, Linear
from framework.losses import CrossEntropy, LossMSE
from framework.module import Module, Sequential
from framework.optim import SGD, Adam

__all__ = ["Adam", "CrossEntropy", "Dropout", "GradcheckError", "LeakyReLU", "Linear", "LossMSE", "Module", "ReLU",
           "SGD", "Sequential", "Sigmoid", "Tanh", "adjoint_test", "gradcheck", "jacobian", "taylor_test"]
