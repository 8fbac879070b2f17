"""course.training: the two-moons data, the live loss curve and the decision-boundary plot
(none of them trains or computes a loss)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from course import training  # noqa: E402


def test_two_moons_is_seeded_balanced_and_typed():
    x, y = training.two_moons(n=101, seed=3)
    x2, y2 = training.two_moons(n=101, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (101, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert int((y == 0).sum()) == 50 and int((y == 1).sum()) == 51
    x64, _ = training.two_moons(n=10, dtype=torch.float64)
    assert x64.dtype == torch.float64
    assert not torch.equal(training.two_moons(n=20, seed=1)[0], training.two_moons(n=20, seed=2)[0])


def test_two_moons_without_noise_lies_on_the_half_circles():
    x, y = training.two_moons(n=50, noise=0.0, seed=0)
    upper = x[y == 0]
    lower = x[y == 1]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-6)
    assert torch.allclose((lower - torch.tensor([1.0, 0.5])).norm(dim=1), torch.ones(len(lower)), atol=1e-6)


def test_live_loss_collects_and_draws_a_titled_labelled_curve():
    live = training.LiveLoss("Training loss", xlabel="epoch", ylabel="loss", every=2)
    for v in (3.0, 2.0, torch.tensor(1.0)):
        live.add(v)
    assert live.done() == [3.0, 2.0, 1.0]
    ax = live.ax
    assert ax.get_title() == "Training loss" and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [3.0, 2.0, 1.0] and list(line.get_xdata()) == [1, 2, 3]


def test_decision_boundary_colours_the_plane_by_the_prediction():
    x, y = training.two_moons(n=40, seed=0)
    seen = []

    def predict(points):
        seen.append(points)
        return (points[:, 0] > 0.5).long()

    ax = training.plot_decision_boundary(predict, x, y, title="A boundary", steps=20)
    assert ax.get_title() == "A boundary" and ax.get_xlabel() and ax.get_ylabel()
    assert seen[0].shape == (400, 2) and seen[0].dtype == x.dtype
    assert len(ax.collections) >= 3  # the filled regions and one scatter per class
    plt.close(ax.figure)
