"""emkit: the tested package behind the course on Expectation Maximization.

The package has three layers; each may use the ones above it, never those below.

Models (numbers in, numbers out; numpy only)
    em        The general EM driver every likelihood model plugs its steps into,
              best-of-``n_init``, and the one result type.
    kmeans    Lloyd's algorithm as two visible steps (assign, update).
    gmm       Gaussian mixtures: E-step, M-step (one function per formula), fit.
    missing   EM for a multivariate Normal with missing values.
    coins     EM for the two-coin mixture (a model that is not about points in space).
    hmm       Hidden Markov models: forward-backward in logs, Baum-Welch, Viterbi.
    expfamily Poisson and Bernoulli mixtures: E-step = expected sufficient statistics.
    inference Standard errors after EM (Louis' identity, supplemented EM), EM's rate matrix.
    accelerate  SQUAREM and Aitken's acceleration for any model on the EM driver.
    online    Incremental EM (Neal & Hinton) and online EM (Cappe & Moulines).
    soft      Distances to soft assignments: the backwards recipe and the right ones.
    datasets  Old Faithful (shipped) and samples from a known mixture.
    _core, _validation   Prepared data and row blocks; argument checks with clear errors.

Teaching tools (exercises, derivations, grading)
    check     Exercise checks whose feedback names the learner's slip.
    parse     The whitelist parser for typed answers (nothing is ever eval'd).
    symbolic  The SymPy derivation of the exercise, verified numerically in the tests.
    grading   ``emkit grade``: student code in its own process, checks in the grader's.
    notebook_tools   Student notebooks from solution notebooks; execution; slide roles.

Presentation (what a reader sees)
    plotting  One look for every figure.
    widgets   Interactive viewers (each with a static figure beside it).
    slides    Slide decks at projector size, offline and as PDF.
    site      The course website (Sphinx + myst-nb), built from the stored notebooks.

``tests/test_packaging.py`` checks that no model imports a teaching tool or a
presentation module.
"""

from . import accelerate, coins, datasets, em, expfamily, gmm, hmm, inference, kmeans, missing, online, soft

__all__ = [
    "accelerate", "coins", "datasets", "em", "expfamily", "gmm", "hmm", "inference", "kmeans", "missing", "online",
    "soft",
]  # fmt: skip
__version__ = "0.1.0"
