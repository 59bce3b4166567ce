"""What reason codes cost: scoring a 10,000-row batch with and without `reasons`.

In-process, on the path `/predict_batch` takes (`serving.scorer.score` with the lookup's
imputed features, then the answer bodies; `--render` also encodes the response body as
the API does), a model trained on simulated days. Like the service (`gc.freeze()` once
started), the long-lived objects of the setup are frozen out of the garbage collector
before timing; `--no-freeze` times without that (how this was measured before). Prints
the median of `--repeats` timings per variant and the added cost per batch and per row.

`--family hist_gradient_boosting` trains the tree family instead (reasons by SHAP).

    python -m benchmarks.reason_codes [--rows 10000] [--repeats 20] [--render] [--no-freeze]
                                      [--family logistic_regression|hist_gradient_boosting]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import time

from benchmarks.model_quality import simulate, with_features
from fraud_assets.model import training
from fraud_assets.model.loaded import REGISTRY, LoadedModel
from serving import api_responses
from serving.feature_lookup import FeatureLookup
from serving.http_contract import check_items
from serving.scorer import Answered, score


def timed(call, repeats: int) -> float:
    """Median seconds of `repeats` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per batch")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per variant")
    parser.add_argument("--render", action="store_true",
                        help="also encode the response body (ApiResponse.render)")
    parser.add_argument("--family", choices=training.MODEL_FAMILIES,
                        default=training.LOGISTIC_REGRESSION)
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the setup's objects to the garbage collector")
    args = parser.parse_args()
    frame = with_features(simulate(dt.date(2025, 1, 1), 8, 5_000, seed=7))
    trained = training.train(frame, training.TrainParams(model_family=args.family))
    champion = LoadedModel(model=trained.pipeline, name="bench", version="1", alias=None,
                           run_id=None, threshold=trained.threshold, training_start=None,
                           training_end=None, features=(), source=REGISTRY)
    items = simulate(dt.date(2025, 2, 1), 1, args.rows, seed=8)[
        list(training.REQUEST_COLUMNS)].to_dict("records")
    checked = check_items(items)
    lookup = FeatureLookup(use_store=False)

    def run(explain: bool) -> None:
        scored = score(champion, checked.frame, lookup, explain)
        results = api_responses.batch_results(Answered(checked, scored), len(items))
        if args.render:
            api_responses.ApiResponse({"results": results, "request_id": "bench",
                                       "model_version": "1"})

    if not args.no_freeze:
        gc.collect()
        gc.freeze()

    plain, explained = timed(lambda: run(False), args.repeats), timed(lambda: run(True),
                                                                     args.repeats)
    what = "score + answer bodies" + (" + JSON" if args.render else "")
    print(f"{args.family}, {args.rows:,}-row batch, median of {args.repeats} ({what}; "
          f"gc {'not ' if args.no_freeze else ''}frozen):")
    print(f"  without reasons: {plain * 1000:8.1f} ms")
    print(f"  with reasons:    {explained * 1000:8.1f} ms")
    print(f"  added:           {(explained - plain) * 1000:8.1f} ms per batch, "
          f"{(explained - plain) / args.rows * 1e6:.2f} us per row")


if __name__ == "__main__":
    main()
