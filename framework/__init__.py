"""A small deep-learning framework written by hand on tensors: no autograd, no Lightning."""

from framework.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from framework.conv import Conv2d, Flatten, MaxPool2d
from framework.gradcheck import GradcheckError, adjoint_test, gradcheck, jacobian, taylor_test
from framework.layers import Dropout, Linear
from framework.losses import CrossEntropy, LossMSE
from framework.module import Module, Sequential
from framework.optim import SGD, Adam
from framework.siamese import PairNet, WeightedLosses

__all__ = [
    "Adam",
    "Conv2d",
    "CrossEntropy",
    "Dropout",
    "Flatten",
    "GradcheckError",
    "LeakyReLU",
    "Linear",
    "LossMSE",
    "MaxPool2d",
    "Module",
    "PairNet",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "WeightedLosses",
    "adjoint_test",
    "gradcheck",
    "jacobian",
    "taylor_test",
]
