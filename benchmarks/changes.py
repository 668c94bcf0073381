"""Library changes that would move published numbers: each is dated by its commit, and a report on a run that
started before it says so beside its numbers — and which of its units the change touches — until it is rerun."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reporting import read_json_if

CODE_CHANGES = [
    {"date": "2026-12-06T22:30:28Z", "learner": "selftrain", "datasets": ("mnist", "digits"),  # where its CNN votes
     "what": "the `selftrain` CNN no longer votes in its own targets in a round whose labels hold a class it was never "
             "trained on (validation: `docs/results/label-efficiency/mnist/new-class-vote.md`)", "touches": "new class"},
    {"date": "2026-12-06T23:29:11Z", "learner": "selftrain", "datasets": ("digits",),  # pools under 1 500 images
     "what": "the `selftrain` CNN makes up to 20 passes over a small pool in each later round, not 4 (validation: "
             "`docs/results/label-efficiency/selftrain-passes.md`)", "touches": "all"},
    {"date": "2026-12-07T01:26:30Z", "learner": "selftrain", "datasets": ("mnist", "digits"),  # where its CNN voted
     "what": "the `selftrain` CNN no longer averages its own last predictions into its targets: it trains on the spread "
             "labels alone (validation: `docs/results/label-efficiency/mnist/selftrain-vote.md`)", "touches": "all"},
    *({"date": "2026-12-07T04:16:15Z", "learner": learner, "datasets": ("mnist", "digits"),  # CIFAR-10: undone, below
       "what": "label spreading (the `embedding` learner, and the teacher of the `selftrain` CNN) gives each class its "
               "share of the labels, not an equal share, with α 0.9999, not 0.999 (validation: "
               "`docs/results/label-efficiency/mnist/spread-alpha.md`)", "touches": "all"} for learner in ("embedding", "selftrain")),
    {"date": "2026-12-07T06:10:35Z", "learner": None, "datasets": ("mnist", "digits", "cifar10"),  # any learner: a strategy's change
     "strategies": ("typiclust", "switch"), "from": "the round that asks for more than 50 clusters",  # switch: typiclust at first
     "what": "`typiclust` clusters with mini-batch k-means above 50 clusters, as TypiClust's reference code does (validation: "
             "`docs/results/acquisition/typiclust-kmeans-cifar10.md`)", "touches": "strategies"},
    {"date": "2026-12-07T09:39:06Z", "learner": None, "datasets": ("mnist", "digits"),  # pixels: a 10-d UMAP embedding
     "pool_images": {"mnist": 60000, "digits": 1297},  # which first batches first_labels.mixture_rule reaches

     "what": "the typical first labels cluster a low-dimensional embedding with a Gaussian mixture of full covariances, not "
             "k-means (validation: `docs/results/label-efficiency/mnist/cold-start.md`)", "touches": "typical first labels"},
    *({"date": "2026-12-07T17:41:37Z", "after": "2026-12-07T04:16:15Z", "learner": learner, "datasets": ("cifar10",),
       # runs from before 04:16 spread as today (equal totals, α 0.999): untouched
       "what": "label spreading on colour pixels and a backbone's features gives classes equal totals with α 0.999 again, as "
               "before 2026-12-07 04:16 (validation: `docs/results/representation/spread-mass-pixels.md`)", "touches": "all"}
      for learner in ("embedding", "selftrain")),
    {"date": "2026-12-07T19:21:29Z", "learner": "linear", "datasets": ("cifar10",), "from": "round 1",
     "strategies": ("margin", "entropy", "least-confidence", "density-entropy", "density-least-confidence", "switch", "diverse-margin"),
     "what": "the `linear` learner divides its logits by a temperature (2 on EfficientNet-Lite0 and scattering): no "
             "prediction moves, but strategies that read probabilities may pick other images, and the accuracy estimate "
             "and the calibration columns move (validation: `docs/results/representation/temperature.md`)",
     "touches": "strategies"},
    {"date": "2026-12-07T21:02:48Z", "learner": None, "datasets": ("cifar10",), "features": ("auto",),  # runs naming @128: untouched
     "what": "`--features auto` gives colour images EfficientNet-Lite0 at 160 px, not 128 (validation: "
             "`docs/results/representation/choice.md`)", "touches": "all", "from": "round 0"},
    {"date": "2026-12-07T23:45:16Z", "learner": "selftrain", "datasets": ("mnist",),  # images of 16 px a side and more
     "what": "the `selftrain` CNN is 16 wide, not 32, makes 8 passes over the pool in the first round, not 3, and trains on "
             "12 000 images in each later round, not 30 000 (validation: "
             "`docs/results/label-efficiency/mnist/selftrain-width.md`)", "touches": "all"},
    {"date": "2026-12-08T03:10:00Z", "learner": None, "datasets": ("cifar10",), "from": "round 0",  # typical first labels, typiclust
     "features": ("auto", "efficientnet-lite0", "efficientnet-lite0@128", "efficientnet-lite0@160", "scattering"),
     "what": "TypiClust's clusters (the typical first labels, `typiclust`, `switch`) in a backbone's features are fit on "
             "the pool's most typical half while there are at most 20 clusters (the first labels and the round to 20 "
             "labels), not every image (validation: "
             "`docs/results/acquisition/typiclust-core-cifar10.md`)", "touches": "all"},
    {"date": "2026-12-08T03:59:43Z", "after": "2026-12-08T03:10:00Z", "learner": None, "datasets": ("cifar10",), "from": "round 0",
     "features": ("scattering",),  # runs from before the change above clustered every point, as today
     "what": "on scattering features TypiClust's clusters are fit on every image again (validation: "
             "`docs/results/acquisition/typiclust-core-cifar10-scattering.md`)", "touches": "all"},
]


def units_gaining_a_class(rows: list[dict]) -> tuple[int, int] | None:
    """(units whose labeled set holds more classes in a later round than in round 0, all units), or None when the
    rows do not record the classes labeled."""
    first, more = {}, set()
    for r in rows:
        if r.get("classes_labeled") in (None, ""):
            return None
        c, unit = int(r["classes_labeled"]), (r["strategy"], r["seed"])
        if r["round"] == 0:
            first[unit] = c
        elif unit in first and c > first[unit]:
            more.add(unit)
    return (len(more), len(first)) if first else None


def _changes_since(started: str | None, learner: str, dataset: str, rows: list[dict],
                   first: tuple | None = None, features: str | None = None) -> list[tuple[dict, tuple | None, str]]:
    """(change, (units touched, units) or None when unknown, how) for each CODE_CHANGES entry after ``started`` that
    touches ``learner`` on ``dataset`` (``first``: the run's first labels, (kind, how many), when known; ``features``:
    the run's representation, which a change naming ``features`` must match; None: pixels' "auto" of old runs)."""
    from activegan.active.first_labels import mixture_rule
    from activegan.embedding import EmbeddingConfig

    out = []
    units = {(r["strategy"], r["seed"]) for r in rows}
    every = (len(units), len(units)) if units else None
    for c in CODE_CHANGES:
        if c["learner"] not in (None, learner) or dataset not in c["datasets"] or (started is not None and started >= c["date"]):
            continue
        if started is not None and started < c.get("after", ""):  # a run from before the change this one undoes
            continue
        if "features" in c and (features or "auto") not in c["features"]:
            continue
        if c["touches"] == "typical first labels":  # every unit of a run whose typical first batch the mixture reaches
            if first is not None and (first[0] != "typical"
                                      or not mixture_rule(EmbeddingConfig().dims, first[1], c["pool_images"][dataset])):
                continue
            touched, how = every, "would give other numbers from round 0 on (other first labels)"
        elif c["touches"] == "strategies":  # units of the strategies named, from the round the change reaches
            hit = {u for u in units if str(u[0]).split("@")[0] in c["strategies"]}
            if not hit:
                continue
            touched, how = (len(hit), len(units)), f"({', '.join(sorted({u[0] for u in hit}))}) would give other numbers from {c['from']} on"
        elif c["touches"] == "new class":
            touched, how = units_gaining_a_class(rows), "labeled a new class after round 0 and would give other numbers from that round on"
        else:
            touched, how = every, f"would give other numbers from {c.get('from', 'round 1')} on"
        out.append((c, touched, how))
    return out


def _change_note(c: dict, touched, how: str, name: str) -> str:
    head = f"- **Changed since {name}** ({c['date'][:10]}): {c['what']}. "
    if touched is None:
        return head + "The run did not record the classes labeled per round, so which of its units would differ is not known. Not rerun yet."
    if touched[0] == 0:
        return head + "It does not touch any unit here (none labeled a new class after round 0): they are unchanged."
    return (head + f"{touched[0]} of {touched[1]} units here {how}" + ("; the others are unchanged" if touched[0] < touched[1] else "")
            + ". Not rerun yet.")


def moved_by_changes(started: str | None, learner: str, dataset: str, rows: list[dict], first: tuple | None = None,
                     features: str | None = None) -> bool:
    """Whether a library change after ``started`` would move (or may move: unknown) the units of ``rows``."""
    return any(t is None or t[0] > 0 for _, t, _ in _changes_since(started, learner, dataset, rows, first, features))


def code_change_notes(started: str | None, learner: str, dataset: str, rows: list[dict], name: str = "this run",
                      features: str | None = None) -> list[str]:
    """'- Changed since …' for each CODE_CHANGES entry that came after ``started`` and touches ``learner`` on ``dataset``
    (with the representation ``features``)."""
    return [_change_note(c, touched, how, name)
            for c, touched, how in _changes_since(started, learner, dataset, rows, features=features)]


def run_of(out: Path, sub: str, cfg, run: dict | None) -> tuple[str | None, list[dict], tuple | None]:
    """(when it started, its curves' rows, its first labels (kind, how many) when known) of the published experiment
    ``out/<sub>``: started as its own run.json says, else as the page's ``run``."""
    from activegan.results import read_curves

    started = (read_json_if(out / sub / "run.json") or run or {}).get("started")
    path = out / sub / "curves.csv"
    rows = read_curves(path) if path.exists() else []
    first = ((cfg.initial_strategy, (getattr(cfg, "budgets", None) or [getattr(cfg, "initial", 0)])[0])
             if hasattr(cfg, "initial_strategy") else None)
    return started, rows, first


def change_notes(out: Path, cfgs: dict, run: dict | None, name=lambda sub: f"`{sub}` ran") -> list[str]:
    """``code_change_notes`` of the experiment folders ``out/<sub>`` of a published run (each started as its own
    run.json says, else as ``run`` says): one note per change, naming every folder it reaches."""
    from activegan.results import read_curves

    reached = {}  # (date, what) → [(change, touched, how, folder's name)], in CODE_CHANGES order
    for sub, cfg in cfgs.items():
        started, rows, first = run_of(out, sub, cfg, run)
        for c, touched, how in _changes_since(started, cfg.learner, cfg.dataset, rows, first, getattr(cfg, "features", None)):
            reached.setdefault((c["date"], c["what"]), []).append((c, touched, how, name(sub), f"`{sub}`"))
    notes = []
    for (date, what), hits in sorted(reached.items()):
        if len(hits) == 1:
            notes.append(_change_note(*hits[0][:4]))
            continue
        known = [(sub, t, how) for _, t, how, _, sub in hits if t is not None and t[0] > 0]
        parts = [f"{sub} {t[0]} of {t[1]} units" for sub, t, _ in known]
        untouched = [sub for _, t, _, _, sub in hits if t is not None and t[0] == 0]
        unknown = [sub for _, t, _, _, sub in hits if t is None]
        text = f"- **Changed since these runs** ({date[:10]}): {what}. "
        if parts:
            text += f"{'; '.join(parts)} {known[0][2]}. "
        if untouched:
            text += f"Unchanged (no unit labeled a new class after round 0): {', '.join(untouched)}. "
        if unknown:
            text += f"Not known (classes labeled per round not recorded): {', '.join(unknown)}. "
        notes.append(text + ("Not rerun yet." if parts or unknown else "").rstrip())
    return notes


def stale_rows(out: Path, cfgs: dict, key) -> set:
    """``key(cfg, strategy)`` of each published experiment's strategy (``out/<sub>``) whose units a library change
    since its run would move (or may move: unknown)."""
    page = read_json_if(out / "run.json")
    stale = set()
    for sub, cfg in cfgs.items():
        started, rows, first = run_of(out, sub, cfg, page)
        for s in dict.fromkeys(r["strategy"] for r in rows):
            if moved_by_changes(started, cfg.learner, cfg.dataset, [r for r in rows if r["strategy"] == s], first,
                                getattr(cfg, "features", None)):
                stale.add(key(cfg, s))
    return stale
