"""Small, seeded k-means with numpy only: k-means++ seeding, restarts, inertia, silhouette.

The detectors cluster tens to a few thousand rows (days, hosts) of tens to a few hundred
features, so a plain Lloyd iteration on dense arrays is fast enough and easy to reason about.
Everything is deterministic for a given ``seed``.

- :func:`kmeans` clusters rows into ``k`` groups (best of ``n_init`` k-means++ restarts);
- :func:`silhouette_samples` / :func:`silhouette_score` measure how well rows sit in their
  clusters (-1..1, higher is better);
- :func:`choose_k` runs k-means for a range of ``k`` and keeps both the elbow curve (inertia per
  ``k``) and the silhouette curve, choosing ``k`` by the best silhouette.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from loglens.errors import ConfigError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class KMeansResult:
    """One clustering.

    Attributes:
        centroids: ``(k, n_features)`` cluster centres.
        labels: cluster index of each row.
        inertia: sum of squared distances of the rows to their centroid.
        n_iter: Lloyd iterations of the kept restart.
    """

    centroids: FloatArray
    labels: IntArray
    inertia: float
    n_iter: int

    @property
    def sizes(self) -> IntArray:
        """Number of rows in each cluster (a cluster may be empty when rows repeat)."""
        return np.bincount(self.labels, minlength=len(self.centroids)).astype(np.intp)


@dataclass(frozen=True)
class KSelection:
    """The outcome of :func:`choose_k`: the chosen ``k`` and both curves for plotting.

    Attributes:
        k: the ``k`` with the best silhouette (ties go to the smaller ``k``); 1 when no ``k >= 2``
            could be tried (fewer than 3 rows or fewer than 2 distinct rows) or when the best
            silhouette is below ``min_silhouette``.
        elbow: ``k`` → inertia, including ``k = 1``.
        silhouette: ``k`` → mean silhouette, for ``k >= 2``.
        elbow_k: the ``k`` at the knee of the elbow curve (farthest point from the chord
            between its ends), a second opinion to show next to the silhouette choice.
        results: ``k`` → the clustering kept for that ``k``.
    """

    k: int
    elbow: dict[int, float]
    silhouette: dict[int, float]
    elbow_k: int
    results: dict[int, KMeansResult] = field(repr=False)


def _as_matrix(x: NDArray[np.floating] | FloatArray) -> FloatArray:
    matrix = np.asarray(x, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ConfigError(
            f"k-means needs a non-empty 2-D array of rows, got shape {matrix.shape}", location="x"
        )
    if not np.all(np.isfinite(matrix)):
        raise ConfigError("k-means needs finite values (no NaN or infinity)", location="x")
    return matrix


def squared_distances(x: FloatArray, centroids: FloatArray) -> FloatArray:
    """Squared Euclidean distances ``(n_rows, k)`` between rows and centroids."""
    # The expanded form is one matrix product; clip the tiny negatives rounding leaves behind.
    d2: FloatArray = (
        np.einsum("ij,ij->i", x, x)[:, None]
        - 2.0 * (x @ centroids.T)
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
    )
    return np.maximum(d2, 0.0, out=d2)


def assign(x: FloatArray, centroids: FloatArray) -> tuple[IntArray, FloatArray]:
    """Nearest centroid of each row and the squared distance to it."""
    d2 = squared_distances(x, centroids)
    labels = np.argmin(d2, axis=1).astype(np.intp)
    return labels, d2[np.arange(len(x)), labels]


def kmeans_plus_plus(x: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """k-means++ seeding: each next centre drawn with probability ∝ squared distance."""
    n = len(x)
    centres = np.empty((k, x.shape[1]), dtype=np.float64)
    centres[0] = x[rng.integers(n)]
    closest = squared_distances(x, centres[:1])[:, 0]
    for i in range(1, k):
        total = closest.sum()
        # When every row already coincides with a centre (repeated rows), any row will do.
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=closest / total)
        centres[i] = x[pick]
        closest = np.minimum(closest, squared_distances(x, centres[i : i + 1])[:, 0])
    return centres


def _lloyd(
    x: FloatArray, centres: FloatArray, max_iter: int, tol: float
) -> tuple[FloatArray, IntArray, float, int]:
    k = len(centres)
    labels, d2 = assign(x, centres)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        # A one-hot product sums the rows per cluster much faster than np.add.at.
        one_hot = np.zeros((k, len(x)))
        one_hot[labels, np.arange(len(x))] = 1.0
        sums = one_hot @ x
        counts = np.bincount(labels, minlength=k)
        new = centres.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        # An empty cluster takes over the row worst served by its centre, so k stays k.
        for empty in np.flatnonzero(~filled):
            worst = int(np.argmax(d2))
            if d2[worst] <= 0:
                break
            new[empty] = x[worst]
            d2[worst] = 0.0
        shift = float(np.sum((new - centres) ** 2))
        centres = new
        labels, d2 = assign(x, centres)
        if shift <= tol:
            break
    return centres, labels, float(d2.sum()), n_iter


def kmeans(
    x: NDArray[np.floating] | FloatArray,
    k: int,
    *,
    seed: int = 0,
    n_init: int = 8,
    max_iter: int = 100,
    tol: float = 1e-10,
    init: FloatArray | None = None,
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` groups; keep the restart with the lowest inertia.

    Args:
        x: ``(n_rows, n_features)`` finite values.
        k: number of clusters, ``1 <= k <= n_rows``.
        seed: seed of the k-means++ draws (same seed, same result).
        n_init: number of k-means++ restarts.
        max_iter: Lloyd iterations per restart at most.
        tol: stop when the centroids move less than this (sum of squared moves, scaled by the
            data's variance).
        init: optional ``(k, n_features)`` starting centres, tried as one more restart.

    Returns:
        The best clustering found.

    Raises:
        ConfigError: bad shape, non-finite values, or ``k`` out of range.
    """
    matrix = _as_matrix(x)
    n = len(matrix)
    if not 1 <= k <= n:
        raise ConfigError(
            f"k must be between 1 and the number of rows ({n}), got {k}", location="k"
        )
    if n_init < 1 or max_iter < 1:
        raise ConfigError("n_init and max_iter must be at least 1", location="n_init")
    scaled_tol = tol * max(float(np.mean(np.var(matrix, axis=0))), 1e-300) * matrix.shape[1]
    rng = np.random.default_rng(seed)
    starts = [kmeans_plus_plus(matrix, k, rng) for _ in range(n_init)]
    if init is not None:
        given = np.asarray(init, dtype=np.float64)
        if given.shape != (k, matrix.shape[1]):
            raise ConfigError(f"init must have shape {(k, matrix.shape[1])}", location="init")
        starts.append(given)
    best: KMeansResult | None = None
    for start in starts:
        centres, labels, inertia, n_iter = _lloyd(matrix, start, max_iter, scaled_tol)
        if best is None or inertia < best.inertia:
            best = KMeansResult(centres, labels, inertia, n_iter)
    assert best is not None  # n_init >= 1
    return best


def silhouette_samples(
    x: NDArray[np.floating] | FloatArray, labels: NDArray[np.integer]
) -> FloatArray:
    """Silhouette of each row: ``(b - a) / max(a, b)``, 0 for a row alone in its cluster.

    ``a`` is the mean distance to the other rows of its cluster, ``b`` the smallest mean distance
    to the rows of another cluster. Needs at least two non-empty clusters.

    Raises:
        ConfigError: fewer than two clusters, or labels that do not match the rows.
    """
    matrix = _as_matrix(x)
    lab = np.asarray(labels)
    if lab.shape != (len(matrix),):
        raise ConfigError("labels must give one cluster per row", location="labels")
    _, inverse = np.unique(lab, return_inverse=True)
    n_clusters = int(inverse.max()) + 1
    if n_clusters < 2:
        raise ConfigError("a silhouette needs at least two clusters", location="labels")
    sq = np.einsum("ij,ij->i", matrix, matrix)
    dist = np.sqrt(np.maximum(sq[:, None] - 2.0 * (matrix @ matrix.T) + sq[None, :], 0.0))
    np.fill_diagonal(dist, 0.0)
    one_hot = np.zeros((len(matrix), n_clusters))
    one_hot[np.arange(len(matrix)), inverse] = 1.0
    sums = dist @ one_hot  # (n, clusters): total distance to each cluster
    sizes = one_hot.sum(axis=0)
    own_size = sizes[inverse]
    rows = np.arange(len(matrix))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = sums[rows, inverse] / (own_size - 1)
        means = sums / sizes[None, :]
    means[rows, inverse] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(denom > 0, (b - a) / denom, 0.0)
    return np.where(own_size > 1, s, 0.0)


def silhouette_score(
    x: NDArray[np.floating] | FloatArray,
    labels: NDArray[np.integer],
    *,
    sample_size: int | None = 2000,
    seed: int = 0,
) -> float:
    """Mean silhouette of the rows (on a seeded sample when there are more than ``sample_size``).

    Sampling keeps the pairwise-distance matrix small for long histories.
    """
    matrix = _as_matrix(x)
    lab = np.asarray(labels)
    if sample_size is not None and len(matrix) > sample_size:
        pick = np.random.default_rng(seed).choice(len(matrix), sample_size, replace=False)
        matrix, lab = matrix[pick], lab[pick]
    return float(np.mean(silhouette_samples(matrix, lab)))


def _knee(elbow: dict[int, float]) -> int:
    ks = np.array(sorted(elbow), dtype=np.float64)
    if len(ks) < 3:
        return int(ks[0])
    ys = np.array([elbow[int(k)] for k in ks])
    span_y = ys[0] - ys[-1]
    if span_y <= 0:
        return int(ks[0])
    # Normalise both axes so the chord is the diagonal; the knee is the farthest point below it.
    xs = (ks - ks[0]) / (ks[-1] - ks[0])
    yn = (ys - ys[-1]) / span_y
    gap = (1.0 - xs) - yn
    return int(ks[int(np.argmax(gap))])


def choose_k(
    x: NDArray[np.floating] | FloatArray,
    k_max: int,
    *,
    k_min: int = 2,
    seed: int = 0,
    n_init: int = 8,
    min_silhouette: float = 0.25,
) -> KSelection:
    """Run k-means for ``k = 1 .. k_max`` and pick ``k`` by the best silhouette.

    ``k_max`` is capped at ``n_rows - 1`` and at the number of distinct rows, since more
    clusters than that cannot be told apart.

    Args:
        x: ``(n_rows, n_features)`` finite values.
        k_max: largest ``k`` to try.
        k_min: smallest ``k`` the silhouette may choose (at least 2).
        seed: seed of every k-means run.
        n_init: k-means++ restarts per ``k``.
        min_silhouette: below this best silhouette the rows are taken as one cluster (``k = 1``):
            k-means splits even structureless data, and a mean silhouette under 0.25 is the
            usual reading of "no substantial structure" (Kaufman & Rousseeuw).

    Returns:
        The chosen ``k``, the elbow and silhouette curves and the clustering of each ``k``.
    """
    matrix = _as_matrix(x)
    if k_max < 1 or k_min < 2:
        raise ConfigError("k_max must be at least 1 and k_min at least 2", location="k_max")
    n = len(matrix)
    distinct = len(np.unique(matrix, axis=0))
    top = min(k_max, n - 1, distinct)
    results: dict[int, KMeansResult] = {1: kmeans(matrix, 1, seed=seed, n_init=1)}
    silhouette: dict[int, float] = {}
    for k in range(2, top + 1):
        # Growing the previous solution by its worst-served row is one more restart; Lloyd
        # never raises inertia from there, so the elbow curve cannot go up with k.
        previous = results[k - 1]
        _, d2 = assign(matrix, previous.centroids)
        grown = np.vstack([previous.centroids, matrix[int(np.argmax(d2))]])
        results[k] = kmeans(matrix, k, seed=seed, n_init=n_init, init=grown)
        if k >= k_min and len(np.unique(results[k].labels)) >= 2:
            silhouette[k] = silhouette_score(matrix, results[k].labels, seed=seed)
    elbow = {k: r.inertia for k, r in results.items()}
    chosen = max(silhouette, key=lambda k: (silhouette[k], -k)) if silhouette else 1
    if chosen > 1 and silhouette[chosen] < min_silhouette:
        chosen = 1
    return KSelection(chosen, elbow, silhouette, _knee(elbow), results)
