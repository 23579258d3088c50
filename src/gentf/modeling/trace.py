"""The trace of a @gen function: a record per address, in execution order.

Each address holds either a ``ChoiceRecord`` (a distribution's value and log density) or a
``CallRecord`` (the subtrace of a generative function called there). The trace is a nest: its
addresses, generative functions and static arguments are structure, its values and scores are
tensors, so it can be a ``tf.while_loop`` variable or cross a ``tf.function`` boundary.
"""
from ..core.address import show, to_path
from ..core.choicemap import ChoiceMap
from ..core.errors import AddressError
from ..core.gfi import Trace
from ..core.nest import decode, encode


class ChoiceRecord:
    __slots__ = ("value", "score", "dist")

    def __init__(self, value, score, dist):
        self.value, self.score, self.dist = value, score, dist


class CallRecord:
    __slots__ = ("trace",)

    def __init__(self, trace):
        self.trace = trace

    @property
    def score(self):
        return self.trace.score


class DynamicTrace(Trace):
    """Trace of a ``GenFunction``; ``records`` maps address paths to records in visit order.

    A batch of traces (one per particle) is one trace whose leaves have a leading batch axis,
    except the leaves at the positions ``shared`` (of ``tf.nest.flatten(trace)``), which are
    the same for every member and stored once: arguments, observed values."""

    __slots__ = ("gen_fn", "args", "retval", "score", "records", "shared")

    def __init__(self, gen_fn, args, retval, score, records, shared=frozenset()):
        self.gen_fn, self.args, self.retval, self.score = gen_fn, args, retval, score
        self.records, self.shared = records, shared

    def with_shared(self, shared):
        """This trace, with the batch's shared leaf positions set to ``shared``."""
        return DynamicTrace(self.gen_fn, self.args, self.retval, self.score, self.records, shared)

    def get_choices(self):
        cm = ChoiceMap()
        for path, rec in self.records.items():
            if isinstance(rec, ChoiceRecord):
                cm.set(path, rec.value)
            else:
                sub = rec.trace.get_choices()
                if not sub.is_empty():
                    cm.set(path, sub)
        return cm

    def __getitem__(self, addr):
        """The value of the choice at ``addr``, or the return value of the call at ``addr``."""
        path = to_path(addr)
        for k in range(len(path), 0, -1):
            rec = self.records.get(path[:k])
            if rec is None:
                continue
            if isinstance(rec, ChoiceRecord):
                if k == len(path):
                    return rec.value
                break
            return rec.trace.retval if k == len(path) else rec.trace[path[k:]]
        raise AddressError(f"no choice or call at address {show(path)} in the trace of {self.gen_fn!r}")

    def __tf_flatten__(self):
        comps = []
        records_code = []
        for path, rec in self.records.items():
            if isinstance(rec, ChoiceRecord):
                comps.extend((rec.value, rec.score))
                records_code.append((path, rec.dist))
            else:
                records_code.append((path, None, encode(rec.trace, comps)))
        meta = (self.gen_fn, encode(self.args, comps), encode(self.retval, comps), tuple(records_code),
                self.shared)
        comps.append(self.score)
        return meta, tuple(comps)

    @classmethod
    def __tf_unflatten__(cls, meta, comps):
        gen_fn, args_code, retval_code, records_code, shared = meta
        records, i = {}, 0
        for entry in records_code:
            if entry[1] is not None:
                records[entry[0]] = ChoiceRecord(comps[i], comps[i + 1], entry[1])
                i += 2
            else:
                sub, i = decode(entry[2], comps, i)
                records[entry[0]] = CallRecord(sub)
        args, i = decode(args_code, comps, i)
        retval, i = decode(retval_code, comps, i)
        return cls(gen_fn, args, retval, comps[i], records, shared)

    def __repr__(self):
        return f"DynamicTrace({self.gen_fn!r}, score={self.score})"
