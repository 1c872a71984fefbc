"""The contract every registered network keeps (one generic test class, parametrised over list_models())."""
import re

import numpy as np
import pytest

from tests.conftest import jt, random_batch
from model import count_parameters, create_model, list_models, model_info
from utils import checkpoint as ckpt

MODELS = list_models()

# Parameter counts stated by the original (BatchNorm running statistics included) at n_classes=2.
STATED_PARAMS = {n: model_info(n).reference_params for n in MODELS if model_info(n).reference_params}


def size_for(name):
    info = model_info(name)
    return max(64, info.min_size)


@pytest.fixture(scope="module", params=MODELS)
def name(request):
    return request.param


@pytest.mark.parametrize("in_channels,n_classes", [(3, 2), (1, 4)])
def test_output_shape(name, in_channels, n_classes):
    s = size_for(name)
    jt.set_global_seed(0)
    model = create_model(name, in_channels=in_channels, n_classes=n_classes)
    model.eval()
    with jt.no_grad():
        out = model(random_batch(2, in_channels, s, s))
    assert tuple(out.shape) == (2, n_classes, s, s)
    assert np.isfinite(out.numpy()).all()


def test_every_trainable_parameter_gets_a_gradient(name):
    s = size_for(name)
    jt.set_global_seed(0)
    model = create_model(name, in_channels=3, n_classes=2)
    model.train()
    x = random_batch(2, 3, s, s)
    target = jt.array((np.random.RandomState(1).rand(2, s, s) > 0.7).astype("int32"))
    out = model(x)
    loss = jt.nn.cross_entropy_loss(out.permute(0, 2, 3, 1).reshape(-1, 2), target.reshape(-1))
    params = [p for p in model.parameters() if p.requires_grad]
    names = {id(v): k for k, v in model.state_dict().items()}
    grads = jt.grad(loss, params)
    allowed = [re.compile(p) for p in model_info(name).no_grad]
    missing = []
    for p, g in zip(params, grads):
        pname = names.get(id(p), "?")
        if not np.any(g.numpy() != 0) and not any(a.search(pname) for a in allowed):
            missing.append(pname)
    assert not missing, f"{name}: parameters without gradient: {missing[:10]}"


def test_eval_is_deterministic_and_differs_from_train(name):
    s = size_for(name)
    jt.set_global_seed(0)
    model = create_model(name, in_channels=3, n_classes=2)
    x = random_batch(2, 3, s, s, seed=3)
    model.eval()
    with jt.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(a, b)
    model.train()
    t = model(x).numpy()
    mode_dependent = [m for m in model.modules() if isinstance(m, (jt.nn.BatchNorm, jt.nn.Dropout))]
    if mode_dependent:
        assert not np.allclose(a, t), "train mode (batch statistics / dropout) should change the output"
    else:  # e.g. GroupNorm-only networks: the mode must not matter
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-5)  # op fusion differs with and without gradients


def test_save_load_round_trip(name, tmp_path):
    s = size_for(name)
    jt.set_global_seed(0)
    model = create_model(name, in_channels=3, n_classes=2)
    # One training step so BatchNorm statistics differ from their initial values.
    model.train()
    model(random_batch(2, 3, s, s, seed=4)).sync()
    path = str(tmp_path / "w.pkl")
    ckpt.save_weights(model, path, {"model": name})
    jt.set_global_seed(123)
    other = create_model(name, in_channels=3, n_classes=2)
    ckpt.load_weights(other, path, expected_model=name)
    x = random_batch(1, 3, s, s, seed=5)
    model.eval()
    other.eval()
    with jt.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())


def test_debug_mode_prints_shape_and_parameters(name, capsys):
    import run
    s = size_for(name)
    assert run.main(["--mode", "debug", "--model", name, "--img-size", str(s)]) == 0
    out = capsys.readouterr().out
    total, _ = count_parameters(create_model(name))
    assert f"output (2, 2, {s}, {s})" in out
    assert f"{total:,} total" in out
    assert model_info(name).description in out and model_info(name).description  # every network says what it is


@pytest.mark.parametrize("stated", sorted(STATED_PARAMS.items()), ids=sorted(STATED_PARAMS))
def test_parameter_count_matches_the_original(stated):
    name, count = stated
    total, _ = count_parameters(create_model(name, in_channels=3, n_classes=2))
    assert abs(total - count) <= 0.02 * count, f"{name}: {total:,} vs stated {count:,}"
