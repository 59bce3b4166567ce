"""What shadow scoring costs the scoring thread, in process, on the API's micro-batches.

Two models trained on simulated days (the champion and a challenger), scored through the
path the API's scoring thread takes for concurrent /predict calls (`serving.scorer.answer`
with reasons, `log_batch`, one answer body per item), on micro-batches of `--sizes` items,
with the challenger in shadow and without. The variants alternate call by call, so a busy
machine hurts both alike; prints the median per batch and per item.

`--parts` also times one model's scoring alone on the same frame: through the sklearn
pipeline (`predict_proba`, with and without sklearn's `assume_finite` /
`skip_parameter_validation`) and through the explainer's numpy replay (`model.explain`).

    python -m benchmarks.shadow_scoring [--sizes 1,8,16,32] [--repeats 400] [--parts]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from benchmarks.model_quality import simulate, with_features
from fraud_assets.model import training
from fraud_assets.model.loaded import REGISTRY, LoadedModel
from serving import api_responses, scorer
from serving.feature_lookup import FeatureLookup


def trained(seed: int, version: str) -> LoadedModel:
    frame = with_features(simulate(dt.date(2025, 1, 1), 3, 2_000, seed=seed))
    fitted = training.train(frame, training.TrainParams())
    return LoadedModel(model=fitted.pipeline, name="bench", version=version, alias=None,
                       run_id=None, threshold=fitted.threshold, training_start=None,
                       training_end=None, features=(), source=REGISTRY)


def alternating(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each variant, the variants interleaved."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,16,32", help="items per micro-batch")
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--parts", action="store_true", help="also time one model alone")
    args = parser.parse_args()
    threadpool_limits(1)  # as the service does
    champion, challenger = trained(1, "1"), trained(2, "2")
    pool = simulate(dt.date(2025, 2, 1), 1, 2_000, seed=8)[
        list(training.REQUEST_COLUMNS)].to_dict("records")
    lookup = FeatureLookup(use_store=False)
    for size in (int(s) for s in args.sizes.split(",")):
        items, ids = pool[:size], [f"r{i}" for i in range(size)]

        def call(shadow: scorer.Shadow, items=items, ids=ids) -> None:
            answered = scorer.answer(items, champion, lookup, True, shadow, ids)
            scorer.log_batch(answered, ids, [0] * len(ids), "predict")
            for row in range(len(items)):
                api_responses.prediction(answered, row)

        ms = alternating({"off": lambda: call(scorer.Shadow()),
                          "on": lambda: call(scorer.Shadow(challenger))}, args.repeats)
        print(f"{size:3d} items: without shadow {ms['off']:6.2f} ms, with {ms['on']:6.2f} ms "
              f"(+{ms['on'] - ms['off']:.2f} ms, {ms['on'] / ms['off'] - 1:+.0%}); "
              f"per item {ms['off'] / size * 1000:.0f} / {ms['on'] / size * 1000:.0f} us",
              flush=True)
        if args.parts:
            parts(champion, items, lookup, args.repeats)


def parts(model: LoadedModel, items: list[dict], lookup: FeatureLookup, repeats: int) -> None:
    """One model alone on one frame: sklearn pipeline vs the explainer's numpy replay."""
    from fraud_assets.model.explain import explainer_for, input_arrays
    from serving.http_contract import check_items

    checked = check_items(items)
    features, _ = lookup.lookup(checked.frame["merchant_category"])
    frame = training.model_input(pd.concat([checked.frame.reset_index(drop=True), features],
                                           axis=1))
    explainer = explainer_for(model.model)

    def quiet() -> None:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            model.model.predict_proba(frame)

    ms = alternating({"pipeline": lambda: model.model.predict_proba(frame),
                      "pipeline, checks off": quiet,
                      "numpy": lambda: explainer.score(input_arrays(frame), False),
                      "numpy + reasons": lambda: explainer.score(input_arrays(frame), True)},
                     repeats)
    print("      one model: " + ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()), flush=True)


if __name__ == "__main__":
    main()
