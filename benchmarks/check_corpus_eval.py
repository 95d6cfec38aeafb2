"""The learner-answer corpus (tests/check_corpus.py) through emkit.check, with its figures.

Wrong verdicts (a right answer refused, a wrong one passed), the share of wrong
answers told their specific slip, and the slowest check:

    .venv/bin/python benchmarks/check_corpus_eval.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from check_corpus import CORPUS  # noqa: E402

from emkit.check import EXERCISES  # noqa: E402


def main() -> int:
    problems, timings = [], []
    n_wrong = n_named = 0
    for ex_id, answer, expected in CORPUS:
        start = time.perf_counter()
        try:
            result = EXERCISES[ex_id].check(answer)
        except Exception as exc:  # a check must never raise: that is a problem to report
            problems.append((ex_id, expected, f"raised {type(exc).__name__}: {exc}"))
            continue
        timings.append((time.perf_counter() - start, ex_id, expected))
        if expected == "pass":
            if not result.passed:
                problems.append((ex_id, expected, "a right answer refused", str(result)[:600]))
            continue
        n_wrong += 1
        if result.passed:
            problems.append((ex_id, expected, "a wrong answer passed"))
        elif expected in result.slips:
            n_named += 1
        else:
            problems.append((ex_id, expected, "slip not named; named:", result.slips, str(result)[:600]))
    slowest = max(timings)
    print(f"{len(CORPUS)} answers ({len(CORPUS) - n_wrong} right, {n_wrong} wrong)")
    print(f"wrong verdicts: {sum('refused' in p[2] or 'passed' in p[2] for p in problems)}")
    print(f"wrong answers told their slip: {n_named}/{n_wrong} = {n_named / max(1, n_wrong):.1%}")
    print(f"slowest check: {slowest[0]:.2f} s ({slowest[1]}, {slowest[2]})")
    for problem in problems:
        print(*problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
