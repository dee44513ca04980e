"""Tests of the numpy k-means: seeding, restarts, inertia, silhouette and the choice of k."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from loglens.detect.kmeans import (
    assign,
    choose_k,
    kmeans,
    silhouette_samples,
    silhouette_score,
)
from loglens.errors import ConfigError


def blobs(seed: int, centres: np.ndarray, per_blob: int = 40, spread: float = 0.5):
    rng = np.random.default_rng(seed)
    rows = [c + rng.normal(0.0, spread, size=(per_blob, centres.shape[1])) for c in centres]
    truth = np.repeat(np.arange(len(centres)), per_blob)
    return np.vstack(rows), truth


CENTRES = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 5.0], [0.0, 12.0, -4.0], [9.0, 9.0, 9.0]])


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of rows whose cluster's majority blob is their own blob."""
    hits = 0
    for cluster in np.unique(labels):
        members = truth[labels == cluster]
        hits += np.bincount(members).max()
    return hits / len(truth)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n_blobs", [2, 3, 4])
def test_choose_k_finds_the_number_of_separated_blobs(seed: int, n_blobs: int) -> None:
    x, truth = blobs(seed, CENTRES[:n_blobs])
    selection = choose_k(x, 8, seed=seed)
    assert selection.k == n_blobs
    assert selection.elbow_k == n_blobs
    assert purity(selection.results[n_blobs].labels, truth) == 1.0
    inertias = [selection.elbow[k] for k in sorted(selection.elbow)]
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(inertias))
    assert sorted(selection.silhouette) == list(range(2, 9))


def test_inertia_is_the_sum_of_squared_distances_to_the_centroids() -> None:
    x, _ = blobs(5, CENTRES[:3])
    result = kmeans(x, 3, seed=1)
    expected = sum(
        float(np.sum((x[result.labels == c] - result.centroids[c]) ** 2)) for c in range(3)
    )
    assert result.inertia == pytest.approx(expected, rel=1e-9)
    # Centroids are the means of their members (Lloyd's fixed point).
    for c in range(3):
        assert np.allclose(result.centroids[c], x[result.labels == c].mean(axis=0))
    labels, _ = assign(x, result.centroids)
    assert np.array_equal(labels, result.labels)


def test_same_seed_same_result_and_restarts_never_hurt() -> None:
    x, _ = blobs(7, CENTRES, spread=2.5)
    a = kmeans(x, 4, seed=3, n_init=1)
    b = kmeans(x, 4, seed=3, n_init=1)
    assert np.array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia
    many = kmeans(x, 4, seed=3, n_init=10)
    # The first restart of the 10 is the single run above; keeping the best cannot be worse.
    assert many.inertia <= a.inertia + 1e-9


def test_k_equal_to_rows_gives_zero_inertia_and_bad_k_is_refused() -> None:
    x = np.arange(12.0).reshape(6, 2)
    assert kmeans(x, 6).inertia == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ConfigError):
        kmeans(x, 7)
    with pytest.raises(ConfigError):
        kmeans(x, 0)
    with pytest.raises(ConfigError):
        kmeans(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(ConfigError):
        kmeans(np.zeros(5), 1)


def test_repeated_rows_leave_no_crash_and_k_is_capped_by_distinct_rows() -> None:
    x = np.array([[0.0, 0.0]] * 5 + [[3.0, 4.0]] * 5)
    result = kmeans(x, 3, seed=0)
    assert result.inertia == pytest.approx(0.0, abs=1e-12)
    selection = choose_k(x, 6)
    assert selection.k == 2
    assert max(selection.elbow) == 2  # only two distinct rows: larger k says nothing more
    same = np.ones((6, 3))
    assert choose_k(same, 5).k == 1
    assert choose_k(np.array([[0.0], [1.0]]), 5).k == 1


def test_silhouette_matches_the_definition_on_a_small_case() -> None:
    x = np.array([[0.0], [1.0], [10.0], [11.0], [30.0]])
    labels = np.array([0, 0, 1, 1, 2])

    def by_hand(i: int) -> float:
        own = [j for j in range(len(x)) if labels[j] == labels[i] and j != i]
        if not own:
            return 0.0
        a = np.mean([abs(x[i, 0] - x[j, 0]) for j in own])
        b = min(
            np.mean([abs(x[i, 0] - x[j, 0]) for j in range(len(x)) if labels[j] == c])
            for c in set(labels) - {labels[i]}
        )
        return (b - a) / max(a, b)

    expected = np.array([by_hand(i) for i in range(len(x))])
    assert np.allclose(silhouette_samples(x, labels), expected)
    assert silhouette_score(x, labels) == pytest.approx(expected.mean())
    with pytest.raises(ConfigError):
        silhouette_samples(x, np.zeros(5, dtype=int))


def test_silhouette_prefers_the_true_partition_over_a_random_one() -> None:
    x, truth = blobs(11, CENTRES[:3])
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(truth)
    assert silhouette_score(x, truth) > 0.7
    assert silhouette_score(x, shuffled) < 0.1
    sampled = silhouette_score(x, truth, sample_size=50, seed=1)
    assert abs(sampled - silhouette_score(x, truth)) < 0.1


def test_a_single_blob_is_one_cluster_but_the_curves_are_still_there() -> None:
    x = np.random.default_rng(4).normal(size=(80, 5))
    selection = choose_k(x, 6)
    assert selection.k == 1
    assert max(selection.silhouette.values()) < 0.25
    assert sorted(selection.elbow) == [1, 2, 3, 4, 5, 6]
    assert choose_k(x, 6, min_silhouette=0.0).k >= 2
