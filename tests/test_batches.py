"""The training batches (Chapter 0): a pure function of (seed, rank, k), made ahead in worker processes."""
import torch

from inpaintlib.training.batches import BatchStream, default_workers
from inpaintlib.models.fill_refiner import FillRefinerRecipe
from inpaintlib.training.engine import Phase, Update, draws_per_step, train
from test_train import TinyRecipe

SIZES = [32, 32, 32, 48, 48, 32, 48, 48]


def _batches(stream, sizes):
    return [stream.draw(s) for s in sizes]


def test_batches_made_by_two_workers_are_bit_identical_to_the_serial_stream():
    """The fill refiner's batches (crops, masks and the classical fills, its extras) made by 2
    worker processes, from batch 2 on as a resumed run would, equal the serial ones bit for bit."""
    serial = BatchStream(FillRefinerRecipe(), None, 3, 2, 0, 1, "cpu", False)
    expected = _batches(serial, SIZES)
    ahead = BatchStream(FillRefinerRecipe(), None, 3, 2, 0, 1, "cpu", False)
    ahead.drawn = 2
    ahead.prefetch(SIZES, workers=2)
    got = _batches(ahead, SIZES[2:])
    ahead.close()
    assert len(got) == len(expected) - 2
    for (xi, mi, ei), (xe, me, ee) in zip(got, expected[2:]):
        assert torch.equal(xi, xe) and torch.equal(mi, me)
        assert ei.keys() == ee.keys() == {"fills"} and torch.equal(ei["fills"], ee["fills"])
    assert not torch.equal(expected[0][0], expected[1][0])  # different batches, not one repeated


def test_a_batch_drawn_at_another_size_than_planned_is_an_error():
    stream = BatchStream(TinyRecipe(), None, 0, 2, 0, 1, "cpu", False)
    stream.prefetch([32, 48], workers=1)
    stream.draw(32)
    try:
        stream.draw(32)
    except RuntimeError as err:
        assert "planned at 48 px" in str(err)
    else:
        raise AssertionError("a size the plan does not have was served")
    finally:
        stream.close()


def test_draws_per_step_counts_fresh_batches():
    assert draws_per_step([Update("discriminator", repeats=5, fresh_batch=True), Update("generator")]) == 5
    assert draws_per_step([Update("discriminator", repeats=5), Update("generator")]) == 1
    assert draws_per_step([Update("generator"), Update("discriminator", repeats=2, fresh_batch=True)]) == 3


def test_the_engine_with_workers_trains_exactly_as_without(tmp_path):
    """A critic loop with fresh batches, progressive resizing: 2 workers, the same weights (torch.equal)."""
    recipe = TinyRecipe()
    recipe.phase_plan = [Phase("wgan", fraction=1.0, updates=(
        Update("discriminator", "discriminator_loss", repeats=2, fresh_batch=True),
        Update("generator", "generator_loss")))]
    kw = dict(profile="smoke", out=False, progress=False, steps=4, resize_schedule=((0.0, 16), (0.5, 32)))
    serial = train(recipe, workers=0, **kw)
    parallel = train(recipe, workers=2, **kw)
    assert parallel.meta["workers"] == 2 and serial.meta["workers"] == 0
    for k in ("generator", "discriminator"):
        assert all(torch.equal(p, q) for p, q in zip(serial.nets[k].parameters(), parallel.nets[k].parameters()))
    assert parallel.meta["batches_drawn"] == 8 and 0 <= parallel.meta["data_wait_share"] < 1


def test_default_workers_use_the_cores_the_training_threads_leave(monkeypatch):
    import inpaintlib.training.batches as B

    monkeypatch.setattr(B.os, "cpu_count", lambda: 2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert default_workers(torch.device("cpu")) == 1  # a free core makes the batches
        torch.set_num_threads(2)
        assert default_workers(torch.device("cpu")) == 0  # no free core: between the steps
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(B.os, "cpu_count", lambda: 16)
    assert default_workers(torch.device("cuda")) == 15
