"""The core below every front end: the labeled set (``Pool``), candidate sources (``Candidates``), the
first labels, strategies (scorer × selector, one registry, one name format), the rules that tie them
to learners (``check_strategy``) and the round itself (``ActiveRound``: ask → indices, tell ← labels).
"""

from activegan.active.candidates import Candidates
from activegan.active.first_labels import INITIAL_STRATEGIES, first_labels
from activegan.active.options import check_strategy
from activegan.active.pool import Pool, SimulatedOracle
from activegan.active.round import ActiveRound, learner_factory
from activegan.active.strategies import (
    DEFAULT_STRATEGY, POSTER_STRATEGIES, STRATEGIES, STRATEGY_NAMES, RoundView, Strategy, make_strategy, parse, parse_name, query,
)

__all__ = ["ActiveRound", "Candidates", "DEFAULT_STRATEGY", "INITIAL_STRATEGIES", "POSTER_STRATEGIES", "Pool", "RoundView", "STRATEGIES",
           "STRATEGY_NAMES", "SimulatedOracle", "Strategy", "check_strategy", "first_labels", "learner_factory",
           "make_strategy", "parse", "parse_name", "query"]
