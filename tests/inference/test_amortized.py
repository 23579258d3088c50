"""Amortised VI with model learning (``gentf.SVI``) on a linear-Gaussian model, where everything
is known in closed form.

Model (per datum): z ~ N(0, 1), x | z ~ N(w z + b, 1); so p(x) = N(b, w^2 + 1) and
p(z | x) = N(w (x - b) / (w^2 + 1), 1 / (w^2 + 1)). Guide: q(z | x) = N(a x + c, exp(log_s)),
which holds the exact posterior (a = w / (w^2 + 1), c = -w b / (w^2 + 1), exp(log_s)^2 = 1 / (w^2 + 1)).

Tiers: exact (estimates vs hand-computed log weights; at the exact posterior ELBO = IWAE = log p(x)
for every draw; gradients vs finite differences; microbatches sum to the minibatch gradient; a
run crashed mid-epoch resumes bit for bit), statistical (score-function gradients of a
discrete guide vs the enumerated exact gradient; training reaches the closed-form MLE and
posterior), errors (named, with the address). ``tf.distribute``: test_svi_distribute.py."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf.core import compile as compiled
from gentf import bernoulli, categorical, gen, normal, param
from gentf.core.errors import AddressError, ArgumentError, MissingChoiceError, UnvisitedConstraintError
from gentf.core.seeds import as_seed, fold_in
from gentf.inference.amortized import SVI, svi
from gentf.inference.amortized_bounds import log_weights
from gentf.testing import finite_difference_gradient

F64 = tf.float64


@gen
def lg_model(x):
    z = normal(tf.zeros_like(x), tf.ones_like(x)) @ "z"
    normal(param("w") * z + param("b"), 1.0) @ "x"


@gen
def lg_guide(x):
    normal(param("a") * x + param("c"), tf.exp(param("log_s")) * tf.ones_like(x)) @ "z"


MODEL_PARAMS, GUIDE_PARAMS = ("w", "b"), ("a", "c", "log_s")


def data_fn(x):
    return (x,), (x,), {"x": x}


def set_params(w, b, a, c, log_s):
    for fn, names, values in ((lg_model, MODEL_PARAMS, (w, b)), (lg_guide, GUIDE_PARAMS, (a, c, log_s))):
        for name, value in zip(names, values):
            gentf.init_param(fn, name, tf.constant(value, F64))


def exact_posterior(w, b):
    v = 1.0 / (w * w + 1.0)
    return w * v, -w * b * v, 0.5 * np.log(v)


def log_px(x, w, b):
    return stats.norm.logpdf(x, b, np.sqrt(w * w + 1.0))


X = tf.constant(np.random.default_rng(0).normal(1.0, 2.0, size=8), F64)


def test_estimates_equal_hand_computed_log_weights():
    w, b, a, c, log_s = 1.5, -0.3, 0.2, 0.1, -0.4
    set_params(w, b, a, c, log_s)
    k = 3
    log_w, glob, parts = log_weights(lg_model, lg_guide, (X,), (X,), {"x": X}, num_particles=k, seed=11)
    z = parts["latents"]["z"].numpy().reshape(k, -1)
    x = X.numpy()
    hand = (stats.norm.logpdf(z) + stats.norm.logpdf(x, w * z + b, 1.0)
            - stats.norm.logpdf(z, a * x + c, np.exp(log_s)))
    np.testing.assert_allclose(log_w.numpy(), hand, rtol=1e-12, atol=1e-12)
    assert float(glob) == 0.0
    np.testing.assert_allclose(parts["loglik"].numpy(), stats.norm.logpdf(x, w * z + b, 1.0), rtol=1e-12)
    engine = SVI(lg_model, lg_guide, None, data_fn, num_particles=k)
    elbo = engine.evaluate(X, seed=11)                      # compiled: same stateless draws
    iwae = engine.evaluate(X, objective="iwae", seed=11)
    np.testing.assert_allclose(elbo["objective"], hand.mean(), rtol=1e-10)
    np.testing.assert_allclose(iwae["objective"], np.mean(np.logaddexp.reduce(hand, 0) - np.log(k)), rtol=1e-10)
    np.testing.assert_allclose(elbo["loglik"] - elbo["kl"], elbo["objective"], rtol=1e-10)
    assert iwae["objective"] >= elbo["objective"]


def test_at_the_exact_posterior_elbo_and_iwae_equal_log_px_for_any_draw():
    w, b = 1.5, -0.3
    set_params(w, b, *exact_posterior(w, b))
    target = log_px(X.numpy(), w, b).mean()
    engine = SVI(lg_model, lg_guide, None, data_fn)
    for seed, objective, k in ((1, "elbo", 1), (2, "elbo", 4), (3, "iwae", 5)):
        got = engine.evaluate(X, objective=objective, num_particles=k, seed=seed)["objective"]
        np.testing.assert_allclose(got, target, rtol=1e-10)


@pytest.mark.parametrize("objective,k", [("elbo", 1), ("iwae", 3)])
def test_gradients_match_finite_differences(objective, k):
    start = dict(w=1.2, b=0.4, a=0.3, c=-0.2, log_s=-0.3)
    set_params(**start)
    engine = SVI(lg_model, lg_guide, None, data_fn, objective, k)
    for fn, names in ((lg_model, MODEL_PARAMS), (lg_guide, GUIDE_PARAMS)):
        for name in names:
            gentf.zero_param_grad(fn, name)
    engine.step(X, seed=5)  # update=None: accumulate d objective / d params only
    got = np.array([gentf.get_param_grad(lg_model, n).numpy() for n in MODEL_PARAMS]
                   + [gentf.get_param_grad(lg_guide, n).numpy() for n in GUIDE_PARAMS])

    def estimate(theta):
        set_params(*theta)
        return engine.evaluate(X, seed=5)["objective"]   # same noise: a smooth function of theta
    names = MODEL_PARAMS + GUIDE_PARAMS
    fd = finite_difference_gradient(estimate, np.array([start[n] for n in names]), eps=1e-6)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)


# --- discrete latent: score-function gradients ---------------------------------------------------
@gen
def mix_model(x):
    c = bernoulli(0.4 * tf.ones_like(x)) @ "c"
    normal(tf.where(c, param("mu1"), param("mu0")), 1.0) @ "x"


@gen
def mix_guide(x):
    bernoulli(tf.sigmoid(param("a") * x + param("c"))) @ "c"


def test_score_function_gradient_of_a_discrete_guide_is_unbiased():
    """Exact gradient by enumerating c in {0, 1}; estimator: K = 4000 particles (leave-one-out
    baselines), R = 8 independent seeds; |mean - exact| < 5 standard errors (the mean of 8 draws:
    a t statistic with 7 degrees of freedom exceeds 5 with probability 0.002 per parameter)."""
    x = tf.constant([-1.0, 0.5, 2.0], F64)
    values = dict(mu0=-1.0, mu1=2.0, a=0.3, c=0.1)
    for fn, names in ((mix_model, ("mu0", "mu1")), (mix_guide, ("a", "c"))):
        for n in names:
            gentf.init_param(fn, n, tf.constant(values[n], F64))
    theta = tf.Variable([values[n] for n in ("mu0", "mu1", "a", "c")], dtype=F64)
    with tf.GradientTape() as tape:
        mu0, mu1, a, c = tf.unstack(theta)
        q1 = tf.sigmoid(a * x + c)
        lp1 = np.log(0.4) + tfd_normal_logpdf(x, mu1)
        lp0 = np.log(0.6) + tfd_normal_logpdf(x, mu0)
        elbo = tf.reduce_mean(q1 * (lp1 - tf.math.log(q1)) + (1 - q1) * (lp0 - tf.math.log(1 - q1)))
    exact = tape.gradient(elbo, theta).numpy()
    engine = SVI(mix_model, mix_guide, None, data_fn, "elbo", 4000)
    draws = []
    for seed in range(8):
        for fn, names in ((mix_model, ("mu0", "mu1")), (mix_guide, ("a", "c"))):
            for n in names:
                gentf.zero_param_grad(fn, n)
        metrics = engine.step(x, seed=seed)
        draws.append([gentf.get_param_grad(mix_model, "mu0").numpy(), gentf.get_param_grad(mix_model, "mu1").numpy(),
                      gentf.get_param_grad(mix_guide, "a").numpy(), gentf.get_param_grad(mix_guide, "c").numpy()])
    draws = np.array(draws)
    se = draws.std(0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - exact) < 5 * se + 1e-12), (draws.mean(0), exact, se)
    assert np.all(np.abs(exact[2:]) > 5 * se[2:])  # the guide gradient is resolved, not just noise
    np.testing.assert_allclose(metrics["objective"], float(elbo), atol=0.05)


def tfd_normal_logpdf(x, mu):
    return -0.5 * (x - mu) ** 2 - 0.5 * np.log(2 * np.pi)


# --- training ------------------------------------------------------------------------------------
def test_training_reaches_the_mle_and_the_exact_posterior():
    """N = 512 draws of x ~ N(1, 2^2 + 1). MLE: b = mean(x), w^2 = var(x) - 1 (closed form; we
    compare with the data's MLE, not with the true values, so the MLE's own sampling error,
    sd(b) = sqrt(5/512) = 0.1, does not enter). Adam on minibatches of 128, reparameterised ELBO
    with K = 4 particles: 150 epochs at lr 0.05, then 100 at lr 0.002. At the optimum the guide is
    the exact posterior, so log w is constant in z and the guide's gradient noise vanishes; the
    model's does not (per datum grad_b = x - w z - b has posterior variance w^2 / (w^2 + 1) = 0.8),
    so the parameters end in a stationary jitter around the optimum whose sd, measured over 4
    shuffling seeds, is 0.004 (largest error 0.009). Tolerance 0.03 = 7 sd; for the final ELBO
    vs log p(x) at the MLE (largest error 0.0014): 0.01."""
    x = np.random.default_rng(3).normal(1.0, np.sqrt(5.0), size=512)
    b_mle, w2_mle = x.mean(), x.var() - 1.0
    set_params(0.5, 0.0, 0.0, 0.0, 0.0)
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(x, F64)).shuffle(512, seed=0).batch(128)
    for lr, epochs in ((0.05, 150), (0.002, 100)):
        update = gentf.ParamUpdate(gentf.ADAM(lr, 0.9, 0.999, 1e-8), lg_model, lg_guide)
        engine, history = svi(lg_model, lg_guide, dataset, update, data_fn, num_particles=4,
                              num_epochs=epochs, seed=0)
    w, b = (float(gentf.get_param(lg_model, n)) for n in MODEL_PARAMS)
    assert abs(b - b_mle) < 0.03 and abs(w * w - w2_mle) < 0.03, (b, b_mle, w * w, w2_mle)
    a, c, log_s = (float(gentf.get_param(lg_guide, n)) for n in GUIDE_PARAMS)
    np.testing.assert_allclose([a, c, log_s], exact_posterior(w, b), atol=0.03)
    # the bound is then log p(x) at the MLE (the maximum of the log-likelihood)
    np.testing.assert_allclose(history[-1]["objective"], log_px(x, np.sqrt(w2_mle), b_mle).mean(), atol=0.01)
    # one compiled program per epoch, traced once for all epochs
    function, *concrete = compiled.programs(engine, engine.program_key("epoch", "elbo", 4, True))
    assert function.experimental_get_tracing_count() == 1 and len(concrete) == 1


# --- parameters of every kind and errors ---------------------------------------------------------
def test_one_step_trains_gen_params_eager_and_graph_form_tffunctions():
    keras_layer = tf.keras.layers.Dense(1, dtype="float64")
    keras_layer.build((None, 1))
    eager = gentf.TFFunction(lambda z: keras_layer(z[:, None])[:, 0], variables=keras_layer.trainable_variables)
    graph = tf.Graph()
    with graph.as_default():
        v = tf.compat.v1.Variable(np.float64(0.1), name="scale_raw")
        inp = tf.compat.v1.placeholder(F64, shape=(None,), name="x")
        out = tf.nn.softplus(v) + 0.0 * inp
    graph_fn = gentf.TFFunction([v], [inp], out)

    @gen
    def model(x):
        z = normal(tf.zeros_like(x), 1.0) @ "z"
        normal(eager(z) @ "decoder", 1.0) @ "x"

    @gen
    def guide(x):
        normal(param("m") * x, graph_fn(x) @ "scale") @ "z"
    gentf.init_param(guide, "m", tf.constant(0.0, F64))
    update = gentf.ParamUpdate(gentf.FixedStepGradientDescent(0.1), guide, eager, graph_fn)
    before = [keras_layer.kernel.numpy().copy(), float(gentf.get_param(guide, "m")),
              gentf.runtf(graph_fn, v)]
    SVI(model, guide, update, data_fn).step(X, seed=0)
    after = [keras_layer.kernel.numpy(), float(gentf.get_param(guide, "m")), gentf.runtf(graph_fn, v)]
    for old, new in zip(before, after):
        assert np.all(np.abs(np.asarray(new) - np.asarray(old)) > 1e-6)


def test_guide_missing_a_latent_names_the_address():
    @gen
    def empty_guide(x):
        return x
    with pytest.raises(MissingChoiceError, match=r"latent choice at address.*z"):
        SVI(lg_model, empty_guide, None, data_fn).step(X, seed=0)


def test_guide_choice_the_model_lacks_names_the_address():
    @gen
    def extra_guide(x):
        normal(x, 1.0) @ "z"
        normal(x, 1.0) @ ("aux", 2)
    set_params(1.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(UnvisitedConstraintError, match=r"guide's choice at address.*aux.*2"):
        SVI(lg_model, extra_guide, None, data_fn).step(X, seed=0)


def test_observed_and_proposed_address_and_bad_arguments():
    @gen
    def greedy_guide(x):
        normal(x, 1.0) @ "z"
        normal(x, 1.0) @ "x"
    with pytest.raises(AddressError, match=r"address.*x.*both observed and proposed"):
        SVI(lg_model, greedy_guide, None, data_fn).step(X, seed=0)
    with pytest.raises(ArgumentError, match="objective"):
        SVI(lg_model, lg_guide, None, data_fn, objective="kl")

    @gen
    def global_model(x):
        mu = normal(tf.constant(0.0, F64), 1.0) @ "mu"
        normal(mu * tf.ones_like(x), 1.0) @ "x"

    @gen
    def global_guide(x):
        normal(tf.constant(0.0, F64), 1.0) @ "mu"
    assert np.isfinite(SVI(global_model, global_guide, None, data_fn).evaluate(X, seed=0)["objective"])
    with pytest.raises(ArgumentError, match=r"iwae.*address.*mu"):
        SVI(global_model, global_guide, None, data_fn, "iwae", 2).evaluate(X, seed=0)


def test_iwae_tightens_with_k_towards_log_px():
    """With a guide that is not the posterior, E[IWAE_K] increases with K and stays below
    log p(x) (Burda et al.): ELBO = IWAE_1 < IWAE_5 < IWAE_50 <= log p(x). Each mean is over 120
    seeds; the margins are 4.75 standard errors (one-sided false-fail rate 1e-6 each)."""
    w, b = 1.5, -0.3
    a, c, log_s = exact_posterior(w, b)
    set_params(w, b, a + 0.4, c - 0.3, log_s + 0.5)
    target = log_px(X.numpy(), w, b).mean()
    engine = SVI(lg_model, lg_guide, None, data_fn)
    runs = {k: np.array([engine.evaluate(X, objective="iwae", num_particles=k, seed=s)["objective"]
                         for s in range(120)]) for k in (1, 5, 50)}
    for lo, hi in ((1, 5), (5, 50)):
        diff = runs[hi] - runs[lo]
        assert diff.mean() > 4.75 * diff.std(ddof=1) / np.sqrt(len(diff)), (lo, hi, diff.mean())
    assert runs[50].mean() <= target + 4.75 * runs[50].std(ddof=1) / np.sqrt(120)
    assert target - runs[50].mean() < target - runs[1].mean()


# --- microbatches ---------------------------------------------------------------------------------
def _grads():
    return np.array([gentf.get_param_grad(lg_model, n).numpy() for n in MODEL_PARAMS]
                    + [gentf.get_param_grad(lg_guide, n).numpy() for n in GUIDE_PARAMS])


def _zero_grads():
    for fn, names in ((lg_model, MODEL_PARAMS), (lg_guide, GUIDE_PARAMS)):
        for name in names:
            gentf.zero_param_grad(fn, name)


@pytest.mark.parametrize("objective,k", [("elbo", 2), ("iwae", 3)])
def test_microbatches_sum_to_the_minibatch_gradient(objective, k):
    """J = 2 microbatches of a minibatch of 8: microbatch j is the half X[4j : 4j + 4] seeded by
    fold_in(seed, j), and the accumulated gradient is that of the minibatch's per-datum mean,
    (g_0 + g_1) / 2 where g_j is the gradient of half j's own per-datum mean (one microbatch);
    the metrics are the halves' means averaged."""
    set_params(1.2, 0.4, 0.3, -0.2, -0.3)
    seed = tf.constant([3, 9], tf.int32)
    _zero_grads()
    both = SVI(lg_model, lg_guide, None, data_fn, objective, k, num_microbatches=2).step(X, seed)
    got = _grads()
    one = SVI(lg_model, lg_guide, None, data_fn, objective, k)
    halves, metrics = [], []
    for j in range(2):
        _zero_grads()
        metrics.append(one.step(X[4 * j:4 * j + 4], fold_in(seed, j)))
        halves.append(_grads())
    np.testing.assert_allclose(got, (halves[0] + halves[1]) / 2, rtol=1e-13, atol=1e-15)
    for key in both:
        np.testing.assert_allclose(both[key], (metrics[0][key] + metrics[1][key]) / 2, rtol=1e-13)
    assert np.all(np.abs(halves[0] - halves[1]) > 1e-3)  # the halves differ: both are counted


def test_microbatch_errors_are_named():
    with pytest.raises(ArgumentError, match=r"leading sizes \[7\] does not split into 2 equal microbatches"):
        SVI(lg_model, lg_guide, None, data_fn, num_microbatches=2).step(X[:7], seed=0)
    with pytest.raises(ArgumentError, match="num_microbatches must be a positive multiple of the 1 replicas"):
        SVI(lg_model, lg_guide, None, data_fn, num_microbatches=0)

    @gen
    def global_model(x):
        mu = normal(tf.constant(0.0, F64), 1.0) @ "mu"
        normal(mu * tf.ones_like(x), 1.0) @ "x"

    @gen
    def global_guide(x):
        normal(tf.constant(0.0, F64), 1.0) @ "mu"
    with pytest.raises(ArgumentError, match=r"2 microbatches need per-datum choices; the choice at address.*mu"):
        SVI(global_model, global_guide, None, data_fn, num_microbatches=2).step(X, seed=0)


# --- checkpoints mid-epoch ------------------------------------------------------------------------
def test_a_run_crashed_mid_epoch_resumes_bit_for_bit(tmp_path):
    """64 data in minibatches of 8, reshuffled every epoch (seeded), 3 epochs, ADAM. Run A: no
    checkpoints. Run B: one epoch with a checkpoint; then a run to 3 epochs saving every 3 steps
    whose program fails (an assertion in ``data_fn``, as a crash) at the first minibatch of epoch
    1 that holds a chosen datum, minibatch 4: its last checkpoint is at step 3 of epoch 1, iterator
    and all; then the same call with a healthy ``data_fn`` resumes there. B ends with exactly A's
    parameters and per-epoch metrics."""
    values = np.random.default_rng(3).normal(1.0, 2.0, 64)
    table = tf.constant(values, F64)

    def dataset():
        return tf.data.Dataset.range(64).shuffle(64, seed=0).batch(8).map(lambda i: tf.gather(table, i))

    def update():
        set_params(0.5, 0.1, 0.2, 0.0, -0.1)
        return gentf.ParamUpdate(gentf.ADAM(0.05, 0.9, 0.999, 1e-8), lg_model, lg_guide)

    def params():
        return [gentf.get_param(fn, n).numpy() for fn, names in ((lg_model, MODEL_PARAMS), (lg_guide, GUIDE_PARAMS))
                for n in names]
    run = dict(num_particles=2, seed=1, progress=False)
    _, full = svi(lg_model, lg_guide, dataset(), update(), data_fn, num_epochs=3, **run)
    full_params = params()

    order = iter(tf.data.Dataset.range(64).shuffle(64, seed=0).batch(8).repeat(2))
    poison = values[[next(order) for _ in range(8 + 4)][-1].numpy()[0]]  # in minibatch 4 of epoch 1

    def crashing(x):
        with tf.control_dependencies([tf.debugging.assert_none_equal(x, tf.constant(poison, F64),
                                                                     message="simulated crash")]):
            return data_fn(tf.identity(x))
    svi(lg_model, lg_guide, dataset(), update(), data_fn, num_epochs=1, checkpoint=str(tmp_path), **run)
    with pytest.raises(tf.errors.InvalidArgumentError, match="simulated crash"):
        svi(lg_model, lg_guide, dataset(), update(), crashing, num_epochs=3, checkpoint=str(tmp_path),
            checkpoint_steps=3, **run)
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert [tf.train.load_variable(latest, f"gentf_train/{name}/.ATTRIBUTES/VARIABLE_VALUE")
            for name in ("epoch", "data/step")] == [1, 3]
    ran = []
    _, resumed = svi(lg_model, lg_guide, dataset(), update(), data_fn, num_epochs=3, checkpoint=str(tmp_path),
                     checkpoint_steps=3, callback=lambda epoch, metrics: ran.append(epoch), **run)
    assert ran == [1, 2]  # restored: epoch 0 done, epoch 1 from its step 3 (its parameters are step 3's)
    assert resumed == full and len({h["objective"] for h in full}) == 3
    assert all(np.array_equal(a, b) for a, b in zip(params(), full_params))
    with pytest.raises(ArgumentError, match="checkpoint_steps must be a positive int"):
        svi(lg_model, lg_guide, dataset(), update(), data_fn, checkpoint_steps=0, **run)


def test_a_failed_check_takes_no_step():
    """The compiled step's accumulation and update wait for its checks: a guide whose scale is
    negative raises a DomainError and leaves every parameter and the optimizer as they were."""
    @gen
    def guide(x):
        normal(param("a") * x, param("scale") * tf.ones_like(x)) @ "z"
    gentf.init_param(guide, "a", tf.constant(0.5, F64))
    gentf.init_param(guide, "scale", tf.constant(-1.0, F64))
    set_params(0.5, 0.1, 0.5, 0.1, -0.2)
    update = gentf.ParamUpdate(gentf.ADAM(0.1, 0.9, 0.999, 1e-8), lg_model, guide)
    state = lambda: {k: np.array(v.numpy()) for k, v in update._checkpoint_children().items()}  # noqa: E731
    before = state()
    for _ in range(2):  # traced, then cached
        with pytest.raises(gentf.DomainError, match="normal at address 'z': std must be positive"):
            SVI(lg_model, guide, update, data_fn).step(X, seed=0)
        after = state()
        assert all(np.array_equal(after[k], before[k]) for k in before)


# --- datasets batched the usual way: a partial last batch ------------------------------------------
def _vae_like(seed=0):
    """A float64 VAE-like pair over a batch ``(x [B, 3], y [B])`` of Keras layers in TFFunctions:
    model ``z ~ N(zeros([tf.shape(x)[0], 2]), 1)``, ``x ~ N(Dense(z), 1)``, ``y ~
    categorical(softmax(Dense(z)))``; guide ``z ~ N(mu(x), exp(log_sigma(x)))``. Returns
    ``(model, guide, networks, layers)``, the same initial weights for a seed."""
    rng = np.random.default_rng(seed)
    layers = []
    for units, inputs in ((4, 3), (3, 2), (4, 2)):
        layer = tf.keras.layers.Dense(units, dtype="float64")
        layer.build((None, inputs))
        layer.set_weights([0.5 * rng.normal(size=(inputs, units)), 0.1 * rng.normal(size=units)])
        layers.append(layer)
    enc, dec, cls = (gentf.TFFunction(f, variables=layer.trainable_variables) for f, layer in
                     ((layers[0], layers[0]), (layers[1], layers[1]),
                      (lambda z: tf.nn.softmax(layers[2](z)), layers[2])))

    @gen
    def model(x, y):
        z = normal(tf.zeros([tf.shape(x)[0], 2], F64), 1.0) @ "z"
        normal(dec(z) @ "decoder", 1.0) @ "x"
        categorical(cls(z) @ "classifier") @ "y"

    @gen
    def guide(x, y):
        out = enc(x) @ "encoder"
        normal(out[:, :2], tf.exp(out[:, 2:])) @ "z"
    return model, guide, (enc, dec, cls), layers


def test_run_on_a_partial_last_batch_equals_steps_on_the_same_batches():
    """10 data ``.batch(4)``: batches of 4, 4 and 2 (element shapes ``[None, ...]``), 2 epochs,
    ``K = 2``, ADAM. ``SVI.run`` equals ``SVI.step`` on the same batches with the same seeds
    ``fold_in(fold_in(seed, e), i)`` (each step program traced for its batch's static shape):
    metrics (per-datum means over the epoch, each batch weighted by its size) and parameters to
    rtol 1e-10 in float64; the epoch program is traced once. With ``J = 2`` microbatches (the old
    ``SVI`` required a static leading size) each of the batches splits in halves, exactly as
    ``step`` splits the static batches."""
    rng = np.random.default_rng(4)
    xs, ys = rng.normal(size=(10, 3)), rng.integers(0, 4, 10).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(4)
    assert dataset.element_spec[0].shape.as_list() == [None, 3]

    def fn(batch):
        return batch, batch, {"x": batch[0], "y": batch[1]}
    for count in (1, 2):
        engines = []
        for _ in range(2):
            model, guide, nets, layers = _vae_like()
            update = gentf.ParamUpdate(gentf.ADAM(0.05, 0.9, 0.999, 1e-8), model, guide, *nets)
            engines.append((SVI(model, guide, update, fn, num_particles=2, num_microbatches=count), layers))
        (engine, layers), (reference, ref_layers) = engines
        history = engine.run(dataset, 2, seed=7, progress=False)
        expected = []
        for epoch in range(2):
            rows = [(reference.step(batch, fold_in(fold_in(as_seed(7), epoch), i)), int(batch[0].shape[0]))
                    for i, batch in enumerate(dataset)]
            expected.append({key: sum(m[key] * b for m, b in rows) / 10 for key in history[0]})
        for got, want in zip(history, expected):
            for key in want:
                np.testing.assert_allclose(got[key], want[key], rtol=1e-10)
        for layer, ref_layer in zip(layers, ref_layers):
            for w, v in zip(layer.get_weights(), ref_layer.get_weights()):
                np.testing.assert_allclose(w, v, rtol=1e-10, atol=1e-13)
        assert history[0] != history[1]
        function, *concrete = compiled.programs(engine, engine.program_key("epoch", "elbo", 2, True))
        assert function.experimental_get_tracing_count() == 1 and len(concrete) == 1


def test_microbatches_of_a_partial_batch_weigh_each_datum_by_the_minibatch_size():
    """10 data ``.batch(3)``: batches of 3, 3, 3, 1 of unknown static size, ``J = 2``: a batch of
    ``B`` splits at ``floor(B / 2)`` (1 + 2, and 0 + 1 for the last: an empty microbatch). With
    ``update=None`` the epoch accumulates ``sum_i sum_j (b_ij / B_i) g_ij``, ``g_ij`` the gradient
    of part ``j``'s per-datum mean (one microbatch, seed ``fold_in(step seed, j)``), and the
    metrics are per-datum means over the 10 data (rtol 1e-12)."""
    set_params(1.2, 0.4, 0.3, -0.2, -0.3)
    dataset = tf.data.Dataset.from_tensor_slices(np.random.default_rng(5).normal(1.0, 2.0, 10)).batch(3)
    _zero_grads()
    metrics = SVI(lg_model, lg_guide, None, data_fn, num_particles=2, num_microbatches=2).run(
        dataset, 1, seed=5, progress=False)[0]
    got = _grads()
    one = SVI(lg_model, lg_guide, None, data_fn, num_particles=2)
    want, sums = np.zeros(5), dict.fromkeys(metrics, 0.0)
    for i, batch in enumerate(dataset):
        size = int(batch.shape[0])
        ends = [0, size // 2, size]
        for j in range(2):
            part = batch[ends[j]:ends[j + 1]]
            if part.shape[0]:
                _zero_grads()
                m = one.step(part, fold_in(fold_in(fold_in(as_seed(5), 0), i), j))
                want += _grads() * int(part.shape[0]) / size
                for key in sums:
                    sums[key] += m[key] * int(part.shape[0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for key in metrics:
        np.testing.assert_allclose(metrics[key], sums[key] / 10, rtol=1e-12)
