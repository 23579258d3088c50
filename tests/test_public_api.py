"""Every public name of DESIGN.md section 1 is importable from ``gentf`` and listed in ``__all__``.

The names are parsed from ``../shared/DESIGN.md`` (beside the repository, in CI too) when it is
there; ``EXPECTED`` is the same list written out, so the test also runs without the file, and
the parsed names must all be importable (a name DESIGN.md adds is a failure until exported)."""
import re
from pathlib import Path

import gentf

DESIGN = Path(__file__).resolve().parents[1].parent / "shared" / "DESIGN.md"

EXPECTED = """
gen splice param init_param get_param set_param get_param_grad zero_param_grad get_params
simulate generate assess propose update regenerate project choice_gradients
accumulate_param_gradients get_choices get_retval get_score get_args get_gen_fn NoChange
UnknownChange choicemap merge to_array from_array select selectall complement EmptySelection
bernoulli beta beta_uniform binom categorical cauchy dirichlet exponential gamma geometric
inv_gamma laplace mvnormal neg_binom normal piecewise_uniform poisson uniform uniform_discrete
broadcasted_normal tfp_distribution TFFunction get_session runtf get_param_grad_tf_var
reset_param_grads_tf_op ParamUpdate FixedStepGradientDescent GradientDescent ADAM train
importance_sampling importance_resampling mh hmc mala nuts elliptical_slice map_optimize
initialize_particle_filter particle_filter_step maybe_resample log_ml_estimate black_box_vi
black_box_vimco lecture lecture_batched Map Unfold Recurse Switch
get_traces get_log_weights sample_unweighted_traces effective_sample_size rejuvenate
""".split()

# Words section 1 writes in code spans that are not gentf names: placeholders of its examples.
NOT_NAMES = {"addr", "gentf", "tf_softmax_model"}


def design_names(text):
    """The names section 1 of DESIGN.md uses: ``from gentf import ...``, ``gentf.name``, calls
    ``name(...)`` and bare identifiers in code spans, and the list of distributions."""
    section = text.split("## 1.")[1].split("\n## 2.")[0]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    names = set()
    for m in re.finditer(r"from gentf import ([\w, ]+)", section):
        names.update(n.strip() for n in m.group(1).split(","))
    names.update(re.findall(r"\bgentf\.([A-Za-z_]\w*)", section))
    for span in re.findall(r"`([^`]+)`", prose):
        names.update(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", span))
        if re.fullmatch(r"[A-Za-z_]\w*", span.strip()):
            names.add(span.strip())
    dists = re.search(r"Distributions: Gen.jl's set \(([^)]*)\)", prose)
    if dists:
        names.update(n.strip() for n in dists.group(1).split(","))
    return {n for n in names if len(n) > 1 and n not in NOT_NAMES}


def test_expected_names_are_exported():
    missing = [n for n in EXPECTED if not hasattr(gentf, n)]
    assert not missing, f"not importable from gentf: {missing}"
    unlisted = [n for n in EXPECTED if n not in gentf.__all__]
    assert not unlisted, f"missing from gentf.__all__: {unlisted}"


def test_design_names_are_exported():
    if not DESIGN.exists():  # a checkout without shared/: EXPECTED above is the check
        return
    names = design_names(DESIGN.read_text())
    assert len(names) > 60, "DESIGN.md section 1 parsed to too few names: the parser is stale"
    missing = sorted(n for n in names if not hasattr(gentf, n))
    assert not missing, f"DESIGN.md names these but gentf does not export them: {missing}"


def test_all_lists_only_real_names():
    assert len(set(gentf.__all__)) == len(gentf.__all__)
    assert all(hasattr(gentf, n) for n in gentf.__all__)
    ns = {}
    exec("from gentf import *", ns)
    assert {n for n in gentf.__all__} <= set(ns)


def test_every_public_name_has_a_docstring():
    """Issue 13: every public name states its maths or its contract."""
    import inspect
    missing = [name for name in gentf.__all__ if not inspect.getdoc(getattr(gentf, name))]
    assert not missing, missing
