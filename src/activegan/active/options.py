"""The rules that tie a strategy to a learner and a front end, in one place. Every front end's config
(``run``'s ``ExperimentConfig``, ``query``'s ``QueryConfig``, the labeling app's ``LabelConfig``,
``ActiveLearner``) calls ``check_strategy`` before anything is trained or written."""

from __future__ import annotations

from activegan.active.strategies import MC_STRATEGIES, StrategyName, make_strategy, parse
from activegan.errors import ConfigError


def check_strategy(name: str, learner: str, *, param: str = "strategy", refine_steps: int = 0,
                   shard_by_shard: bool = False) -> StrategyName:
    """The parsed name; ConfigError (naming ``param``) for a strategy that cannot work with the learner
    (its own ``@learner`` or ``learner``), with GAN refinement, or scored one shard at a time."""
    from activegan.learners import AUTO, LEARNERS, learner_spec

    if learner == AUTO and "@" not in name:  # either of auto's learners may be picked: both must work
        for concrete in ("selftrain", "linear"):
            parsed = check_strategy(name, concrete, param=param, refine_steps=refine_steps, shard_by_shard=shard_by_shard)
        return parsed
    try:
        parsed = parse(name)
    except ConfigError as e:  # named after the front end's own parameter
        raise ConfigError(param, e.message) from None
    spec = learner_spec(parsed.learner or learner)
    strategy = make_strategy(parsed.acquisition)
    if parsed.acquisition in MC_STRATEGIES and not spec.samples:
        samplers = ", ".join(n for n, s in LEARNERS.items() if s.samples)
        raise ConfigError(param, f"{name} needs MC dropout, which the {spec.name} learner cannot sample; use a learner "
                                 f"that can ({samplers}), e.g. {parsed.acquisition}@cnn")
    if parsed.oracle is not None and not strategy.scores_images:
        raise ConfigError(param, f"{name}: generated images are ranked by a score per image, and {parsed.acquisition} "
                                 "selects a set instead")
    if parsed.oracle is not None and refine_steps:
        if not strategy.differentiable:
            raise ConfigError("gan.refine_steps", f"{name}: needs a differentiable acquisition, not {strategy.name}")
        if not spec.torch_model:
            torch_learners = ", ".join(n for n, s in LEARNERS.items() if s.torch_model)
            raise ConfigError("gan.refine_steps", f"{name}: refining generated images follows a torch classifier's "
                                                  f"gradient; the {spec.name} learner has none (use {torch_learners})")
    if shard_by_shard and (not strategy.scores_images or parsed.acquisition.startswith("density-")):
        raise ConfigError(param, f"{name} cannot score images one shard at a time")
    return parsed
