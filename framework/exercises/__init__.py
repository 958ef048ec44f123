"""The framework's exercises: runners that train and plot with the library (they may import torch, yaml and
matplotlib; the library may not).

    python -m framework.exercises.mnist --config configs/framework/softmax.yaml
    python -m framework.exercises.toys
    python -m framework.exercises.taylor
"""
