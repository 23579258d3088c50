"""Scoring the choices of a traced body in batches: one chain of ops per distribution family.

A per-choice model (seed 000: ``categorical(probs[i]) @ ("y", i)`` for 100 images) would put
100 copies of the same scoring ops (argument checks, ``log_prob``, support test) into the graph,
and as many again into its gradient. While a @gen body is traced into a graph (never eagerly,
where a domain error must be raised at its line), ``simulate``/``generate``/``assess`` hand each
choice's score to ``ScoreBatches`` instead: choices of the same distribution whose arguments and
values have the same shapes and dtypes are stacked along a new leading axis and scored by one
call, ``log p_j = sum_{batch, event} log_prob(v_j; a_j)`` for each member ``j`` (``-inf``
outside the support), with one argument check per condition whose failure still names the
member's address. The numbers are those of per-choice scoring; only the graph is smaller.

A @gen function called from a traced ``generate`` body (the seed's exercise: one nested call per
image) shares its caller's batches and domain checks: its choices join the caller's groups, its
score and weight are ``Total``s of pending terms, and the outermost body computes them all at
once (``settle``), then asserts every check in one op.
"""
import numpy as np
import tensorflow as tf

from ..core.address import show
from ..core.rows import stack, total_of_rows
from ..core.domain import check, nan_checks, validating
from ..core.dtypes import default_float


# Distributions scored elementwise: the number of event axes of each argument (value: none).
_ARG_EVENT_RANKS = {"normal": (0, 0), "categorical": (1,), "bernoulli": (0,), "uniform": (0, 0),
                    "beta": (0, 0), "gamma": (0, 0), "exponential": (0,), "poisson": (0,),
                    "laplace": (0, 0), "cauchy": (0, 0)}


class Pending:
    """A score to be computed with its batch; ``value`` is set by ``ScoreBatches.settle``."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = None


def total(terms, dtype=None):
    """Sum of scalar log-density terms, promoted to the widest float dtype among them; an empty
    sum is a zero of ``dtype`` (default: the default float, ``core.dtypes``). In a graph, terms
    that are constant zeros (the score of a deterministic call, e.g. a ``TFFunction``) add no op,
    and a batch's member scores are summed as the batch (``core.rows.total_of_rows``)."""
    if not terms:
        return tf.zeros([], dtype or default_float())
    wide = any(t.dtype == tf.float64 for t in terms)
    kept = total_of_rows([t for t in terms if not _constant_zero(t)]) or terms[:1]
    if wide:
        kept = [tf.cast(t, tf.float64) for t in kept]
    return tf.add_n(kept) if len(kept) > 1 else kept[0]


def _constant_zero(term):
    if not tf.is_symbolic_tensor(term) or term.op.type != "Const":
        return False
    value = tf.get_static_value(term)
    return value is not None and not np.any(value)


class Total:
    """A sum of score terms some of which are pending; ``value`` once they are computed:
    ``total`` of the terms, an empty sum in float64 when one of ``dtype_of``'s terms is."""

    __slots__ = ("terms", "dtype_of", "_value")

    def __init__(self, terms, dtype_of):
        self.terms, self.dtype_of, self._value = terms, dtype_of, None

    @property
    def value(self):
        if self._value is None:
            float64 = any(done(t).dtype == tf.float64 for t in self.dtype_of)
            self._value = total([done(t) for t in self.terms], tf.float64 if float64 else None)
        return self._value


def done(term):
    """A score term as a tensor (a ``Pending`` or ``Total`` computed by now)."""
    return term.value if isinstance(term, (Pending, Total)) else term


class ScoreBatches:
    """The choices of one body whose scores are pending, grouped by (distribution, shapes)."""

    def __init__(self):
        self.groups = {}

    @staticmethod
    def batchable(dist, args, value):
        """Can this choice be scored in a batch? Its distribution is elementwise in its arguments
        (``_ARG_EVENT_RANKS``) and every argument's batch shape is the value's shape, so that
        stacking along a new leading axis keeps them aligned."""
        ranks = _ARG_EVENT_RANKS.get(type(dist).__name__.lower())
        if ranks is None or len(ranks) != len(args) or not value.shape.is_fully_defined():
            return False
        return all(a.shape.is_fully_defined() and a.shape.rank >= r and a.shape[:a.shape.rank - r] == value.shape
                   for a, r in zip(args, ranks))

    def add(self, path, dist, args, value, baseline=None, observed=False):
        """A ``Pending`` score ``log p`` for the choice ``value ~ dist(args)`` at ``path``; with
        a ``baseline`` (the choice's previous score: ``update``, ``regenerate``) the pair of
        ``Pending``s ``(log p, log p - baseline)``. An ``observed`` value is checked with its
        batch (``observation_checks``)."""
        key = (dist,) + tuple((tuple(t.shape), t.dtype) for t in (*args, value))
        slot, diff = Pending(), None if baseline is None else Pending()
        self.groups.setdefault(key, []).append((path, args, value, slot, baseline, diff, observed))
        return slot if diff is None else (slot, diff)

    def settle(self, pending_checks):
        """Compute every pending score (adding the argument checks to ``pending_checks``)."""
        for key, members in self.groups.items():
            _score_group(key[0], members, pending_checks)
        self.groups = {}


def _score_group(dist, members, pending_checks):
    paths = [m[0] for m in members]
    if len(members) == 1:
        path, args, value, slot, baseline, diff, observed = members[0]
        dist.validate(args, path, pending_checks)
        if observed:
            check(observation_checks(value, dist, args, path), pending_checks)
        slot.value = dist.logpdf(value, *args)
        if diff is not None:
            diff.value = slot.value - tf.cast(baseline, slot.value.dtype)
        return
    args = [stack(a) for a in zip(*(m[1] for m in members))]
    values = stack([m[2] for m in members])
    if validating():
        checks = list(dist.all_arg_checks(*args))
        observed = [m[6] for m in members]
        if any(observed):
            sampled = tf.reshape([not o for o in observed], [len(members)] + [1] * (values.shape.rank - 1))
            checks += [(cond if all(observed) else cond | sampled, message)  # members not observed pass
                       for cond, message in _value_checks(values, dist, args)]
        _check_members(checks, dist, paths, pending_checks)
    lp = dist.log_density(values, *args)
    scores = tf.reduce_sum(tf.reshape(lp, [len(members), -1]), axis=1)
    for member, score in zip(members, tf.unstack(scores)):
        member[3].value = score
    baselines = [m[4] for m in members]
    if any(b is not None for b in baselines):  # log p - baseline, one subtraction for the group
        zero = tf.zeros([], scores.dtype)
        diffs = scores - tf.stack([zero if b is None else tf.cast(b, scores.dtype) for b in baselines])
        for member, d in zip(members, tf.unstack(diffs)):
            if member[5] is not None:
                member[5].value = d


def observation_checks(value, dist, args, path):
    """The checks of the value observed at ``path`` (``domain.nan_checks``: not NaN, not
    infinite; then the distribution's ``value_checks``), their messages naming the address."""
    return [(cond, f"{dist.name} at address {show(path)}: {message}")
            for cond, message in _value_checks(value, dist, args)]


def _value_checks(value, dist, args):
    if not validating():
        return []
    return nan_checks(value) + dist.value_checks(value, *args)


def _check_members(checks, dist, paths, pending_checks):
    """Conditions over the stacked arguments and values, as checks per member naming its
    address, member by member in program order (a member's arguments, then its value: a NaN
    observed value is named, not the NaN argument it makes of a later member's); a condition
    that does not keep the member axis is one check naming the whole group."""
    rows, messages = [], []
    for cond, message in checks:
        cond = tf.convert_to_tensor(cond)
        if cond.shape.rank and cond.shape[0] == len(paths):
            rows.append(tf.reduce_all(tf.reshape(cond, [len(paths), -1]), axis=1))
            messages.append(message)
        else:
            where = ", ".join(show(p) for p in paths)
            pending_checks.append((tf.reduce_all(cond), f"{dist.name} at one of the addresses {where}: {message}"))
    if rows:
        flat = tf.reshape(tf.stack(rows, axis=1), [-1])  # member-major
        pending_checks.append((flat, [f"{dist.name} at address {show(path)}: {message}"
                                      for path in paths for message in messages]))
