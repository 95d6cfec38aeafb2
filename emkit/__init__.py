"""emkit: the tested package behind the course on Expectation Maximization.

Modules
-------
kmeans    Lloyd's algorithm as two visible steps (assign, update).
gmm       Gaussian mixtures: E-step, M-step (one function per formula), fit.
em        The general EM driver that every model plugs its steps into.
datasets  Old Faithful (shipped) and samples from a known mixture.
"""

from . import datasets, em, gmm, kmeans

__all__ = ["datasets", "em", "gmm", "kmeans"]
__version__ = "0.1.0"
