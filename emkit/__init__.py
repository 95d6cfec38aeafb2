"""emkit: the tested package behind the course on Expectation Maximization.

Modules
-------
kmeans    Lloyd's algorithm as two visible steps (assign, update).
gmm       Gaussian mixtures: E-step, M-step (one function per formula), fit.
em        The general EM driver that every model plugs its steps into.
missing   EM for a multivariate Normal with missing values.
coins     EM for the two-coin mixture (a model that is not about points in space).
soft      Distances to soft assignments: the backwards recipe and the right ones.
check     Exercise checks with specific feedback (for learners and graders).
plotting  One look for every figure; widgets: interactive viewers.
datasets  Old Faithful (shipped) and samples from a known mixture.
"""

from . import coins, datasets, em, gmm, kmeans, missing, soft

__all__ = ["coins", "datasets", "em", "gmm", "kmeans", "missing", "soft"]
__version__ = "0.1.0"
