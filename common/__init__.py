"""The ground floor both halves stand on: the one error path, checked option types, output paths, atomic files,
seed statistics, the MNIST reader and the equality check of comparisons. No Lightning, jsonargparse, Optuna or Ray."""
