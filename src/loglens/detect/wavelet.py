"""Whole days compared by shape: multi-level wavelets, k-means on days, abnormal days explained.

``WaveletDayClusters`` cuts a series into whole UTC days, turns each day's bucket vector into
features (a multi-level discrete wavelet transform, PyWavelets), clusters the days with k-means
(``k`` chosen by silhouette; the elbow curve is kept too) and calls a day abnormal when it is far
from the nearest normal cluster centre or falls in a tiny cluster. The explanation names the
wavelet level and the time window where the day differs most from the nearest normal day of the
same weekday, with observed vs expected values in that window.

Choices, so that nothing is hidden:

- **Whole days only.** A day enters when every one of its buckets is on the series' grid and
  inside the source's life (``Series.active``). Partial first/last days and days before the
  source existed are left out of fitting and get NaN scores; ``skipped_days_`` lists them.
- **Silent buckets count as 0** for the shape (an outage is a change of shape worth reporting),
  and the day's finding says how many of its buckets were silent. NaN values of an active,
  non-silent bucket (a ``rate`` over no events) count as 0 too.
- **Too little history** (fewer than ``min_days`` whole days) raises ``NotEnoughDaysError``
  rather than clustering noise; callers that scan many series can catch it and skip.
- **Variance stabilised.** By default values pass through a square root before the transform:
  Poisson-like counts then have the same noise in quiet and busy hours, so a burst at night
  weighs as much as one at noon.
- **What the transform adds.** With an orthonormal wavelet the full set of coefficients keeps
  Euclidean distances, so ``cA+cD`` coefficients cluster (almost — odd lengths are padded) like
  the raw vector. The transform earns its keep in the explanation (a level is a time scale, a
  coefficient a time window), in the partial variants (``cA``: coarse shape only, ``cD``: shape
  without the level), in per-level energies, and optionally in denoising: ``denoise="hard"`` or
  ``"soft"`` thresholds detail coefficients at the universal threshold (noise estimated on the
  finest level of the training days). On seeded Poisson days denoising changed recall by a few
  points either way, so it is off by default.
- **Time spans.** With ``mode="periodization"`` the coefficient ``j`` of level ``l`` covers buckets
  ``[j·2^l, (j+1)·2^l)`` of the day (clipped to the day); for wavelets longer than Haar this is
  the centre of the coefficient's support, which is what the explanation names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pywt
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, severity_for
from loglens.detect.kmeans import KMeansResult, assign, choose_k, kmeans, squared_distances
from loglens.errors import ConfigError, LoglensError
from loglens.series import Series, parse_interval

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

VARIANTS = ("cA+cD", "raw", "cA", "cD")
FEATURES = ("coefficients", "energy", "both")
NORMALISATIONS = ("sqrt", "none", "total")
DENOISING = ("none", "hard", "soft")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MAD_TO_SIGMA = 1.4826
_DAY_US = 86_400_000_000
_MAX_PEELS = 3


class NotEnoughDaysError(LoglensError):
    """The history holds too few whole days to cluster days (``location`` names the series)."""


# --------------------------------------------------------------------------- day matrix


@dataclass(frozen=True)
class DayMatrix:
    """A series reshaped to one row per UTC day and one column per time-of-day bucket.

    Attributes:
        days: the date of each row (``datetime64[D]``), consecutive from the first bucket's day
            to the last bucket's day.
        values: ``(n_days, buckets_per_day)``; NaN where the series has no value (not on its
            grid, silent, outside the source's life, or a NaN metric).
        silent: True where the source sent nothing at all (``Series.silent``).
        active: True where the bucket is on the series' grid and inside the source's life.
        interval: the bucket width.
    """

    days: NDArray[np.datetime64]
    values: FloatArray
    silent: BoolArray
    active: BoolArray
    interval: timedelta

    @property
    def buckets_per_day(self) -> int:
        return int(self.values.shape[1])

    @property
    def whole(self) -> BoolArray:
        """Days whose every bucket is on the grid and inside the source's life."""
        return np.asarray(self.active.all(axis=1), dtype=np.bool_)

    @property
    def weekdays(self) -> IntArray:
        """Weekday of each row, 0 = Monday … 6 = Sunday."""
        # 1970-01-01 was a Thursday (weekday 3).
        return ((self.days.astype(np.int64) + 3) % 7).astype(np.intp)

    def filled(self) -> FloatArray:
        """Values with silent and NaN buckets of active time counted as 0 (NaN stays outside)."""
        return np.where(self.active, np.nan_to_num(self.values, nan=0.0), np.nan)

    def bucket_start(self, row: int, slot: int) -> datetime:
        """UTC start of bucket ``slot`` on day ``row``."""
        return _day_start(self.days[row]) + slot * self.interval


def _day_start(day: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(day.astype("datetime64[D]"))).replace(tzinfo=UTC)


def _infer_interval(buckets: NDArray[np.int64]) -> timedelta:
    steps = np.diff(np.unique(buckets)).astype(np.int64)
    if len(steps) == 0:
        raise ConfigError(
            "cannot infer the bucket interval from fewer than two buckets; pass interval=",
            location="interval",
        )
    step = int(steps.min())
    if np.any(steps % step):
        raise ConfigError("the series' buckets are not on a regular grid", location="interval")
    return timedelta(microseconds=step)


def day_matrix(series: Series, interval: str | timedelta | None = None) -> DayMatrix:
    """Reshape a series to days × time-of-day buckets (UTC), keeping silence and activity apart.

    Args:
        series: any series whose buckets are aligned to UTC multiples of the interval.
        interval: the bucket width; inferred from the buckets' spacing when None.

    Returns:
        The day matrix; rows run from the first bucket's day to the last bucket's day.

    Raises:
        ConfigError: the interval cannot be inferred, does not divide a day, or the buckets are
            not aligned to it.
    """
    buckets = np.asarray(series.buckets).astype("datetime64[us]").astype(np.int64)
    step = parse_interval(interval if interval is not None else _infer_interval(buckets))
    step_us = step // timedelta(microseconds=1)
    per_day = _DAY_US // step_us
    if len(buckets) == 0:
        empty = np.zeros((0, per_day), dtype=np.bool_)
        return DayMatrix(
            np.zeros(0, dtype="datetime64[D]"), np.zeros((0, per_day)), empty, empty.copy(), step
        )
    if np.any(buckets % step_us):
        raise ConfigError(
            f"the series' buckets are not aligned to {step} in UTC", location="interval"
        )
    day_index = buckets // _DAY_US
    first = int(day_index.min())
    rows = day_index - first
    slots = (buckets % _DAY_US) // step_us
    n_days = int(rows.max()) + 1
    values = np.full((n_days, per_day), np.nan)
    silent = np.zeros((n_days, per_day), dtype=np.bool_)
    active = np.zeros((n_days, per_day), dtype=np.bool_)
    values[rows, slots] = np.asarray(series.values, dtype=np.float64)
    silent[rows, slots] = np.asarray(series.silent, dtype=np.bool_)
    active[rows, slots] = np.asarray(series.active, dtype=np.bool_)
    days = (np.arange(n_days) + first).astype("datetime64[D]")
    return DayMatrix(days, values, silent, active, step)


# --------------------------------------------------------------------------- naming


def _duration_text(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes >= 1440 and minutes % 1440 == 0:
        return f"{minutes // 1440}-day"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    if minutes >= 1:
        return f"{minutes}-minute"
    return f"{int(span.total_seconds())}-second"


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


def _clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class _Layout:
    """Where each coefficient of the full decomposition comes from and which buckets it covers."""

    level: IntArray
    detail: BoolArray
    start: IntArray  # first bucket of the day the coefficient covers
    stop: IntArray  # one past its last bucket
    block: IntArray  # 0 = cA_L, 1 = cD_L, ..., L = cD_1 (pywt.wavedec order)

    @staticmethod
    def of(lengths: list[int], level: int, per_day: int) -> _Layout:
        levels, details, starts, stops, blocks = [], [], [], [], []
        for block, length in enumerate(lengths):
            lvl = level if block == 0 else level - block + 1
            width = 2**lvl
            j = np.arange(length)
            starts.append(np.minimum(j * width, per_day - 1))
            stops.append(np.minimum((j + 1) * width, per_day))
            levels.append(np.full(length, lvl))
            details.append(np.full(length, block > 0))
            blocks.append(np.full(length, block))
        return _Layout(
            np.concatenate(levels).astype(np.intp),
            np.concatenate(details).astype(np.bool_),
            np.concatenate(starts).astype(np.intp),
            np.concatenate(stops).astype(np.intp),
            np.concatenate(blocks).astype(np.intp),
        )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DayScores:
    """Per-day outcome of scoring a series (only the whole days of that series).

    Attributes:
        days: the dates scored.
        rows: their row in the series' ``DayMatrix``.
        distance: Euclidean distance of the day's features to the nearest normal cluster centre.
        score: robust z of that distance against the training days' distances.
        cluster: index of the nearest cluster centre (normal or tiny).
        tiny: True when that nearest centre is a tiny cluster's.
        abnormal: ``score >= distance_threshold`` or ``tiny``.
        silent_buckets: number of silent buckets in each day (counted as 0 for the shape).
    """

    days: NDArray[np.datetime64]
    rows: IntArray
    distance: FloatArray
    score: FloatArray
    cluster: IntArray
    tiny: BoolArray
    abnormal: BoolArray
    silent_buckets: IntArray
    features: FloatArray = field(repr=False)
    coefficients: FloatArray = field(repr=False)
    counts: FloatArray = field(repr=False)


# --------------------------------------------------------------------------- detector


class WaveletDayClusters:
    """Cluster whole days by their wavelet shape; flag days far from any normal cluster.

    Args:
        wavelet: a discrete PyWavelets wavelet name (``"haar"``/``"db1"``, ``"db4"``, ``"sym5"``…).
        level: decomposition level, 1 … ``pywt.dwt_max_level(buckets_per_day, wavelet)``;
            None for that maximum.
        variant: which coefficients become features: ``"cA+cD"`` (approximation and every
            detail level), ``"cA"``, ``"cD"`` (every detail level), or ``"raw"`` (the day's
            normalised bucket vector, no transform) — to compare the four. At the maximum
            level ``cA`` keeps only the coarsest averages (16 hours for 15-minute buckets);
            with ``level=3`` it keeps 2-hour averages, which smooth noise away and found weak
            night bursts more often than ``raw`` on seeded Poisson days.
        features: per level, the ``"coefficients"`` themselves, their ``"energy"`` (the level's
            L2 norm, in the same units as the coefficients) or ``"both"``.
        k: number of clusters; None chooses it by silhouette over ``2 … k_max``.
        k_max: largest ``k`` tried when choosing (capped at the number of days − 1).
        distance_threshold: robust z of the distance to the nearest normal centre from which a
            day is abnormal.
        tiny_cluster: clusters with at most this many days are tiny (their days abnormal): an
            int is a number of days, a float in [0, 1) a share of the training days. The
            default 0.1 sits below one day a week, so a weekly pattern is never tiny.
        normalise: ``"sqrt"`` (variance-stabilising, for counts), ``"none"``, or ``"total"``
            (divide each day by its mean: shape only, volume changes ignored).
        denoise: ``"none"``, or ``"hard"``/``"soft"`` thresholding of the detail coefficients at
            the universal threshold ``σ·sqrt(2·ln n)``.
        min_days: fewest whole training days accepted (at least 3).
        n_init: k-means++ restarts per ``k``.
        seed: seed of the k-means draws.
    """

    name = "wavelet_day_clusters"

    def __init__(
        self,
        wavelet: str = "haar",
        level: int | None = None,
        variant: str = "cA+cD",
        features: str = "coefficients",
        k: int | None = None,
        k_max: int = 8,
        distance_threshold: float = 4.0,
        tiny_cluster: int | float = 0.1,
        normalise: str = "sqrt",
        denoise: str = "none",
        min_days: int = 14,
        n_init: int = 8,
        seed: int = 0,
    ) -> None:
        self.wavelet = wavelet
        self.level = level
        self.variant = variant
        self.features = features
        self.k = k
        self.k_max = k_max
        self.distance_threshold = distance_threshold
        self.tiny_cluster = tiny_cluster
        self.normalise = normalise
        self.denoise = denoise
        self.min_days = min_days
        self.n_init = n_init
        self.seed = seed

    # ----------------------------------------------------------------- parameters

    def _check_params(self) -> pywt.Wavelet:
        if self.variant not in VARIANTS:
            raise ConfigError(
                f"variant {self.variant!r} is not one of {', '.join(VARIANTS)}", location="variant"
            )
        if self.features not in FEATURES:
            raise ConfigError(
                f"features {self.features!r} is not one of {', '.join(FEATURES)}",
                location="features",
            )
        if self.normalise not in NORMALISATIONS:
            raise ConfigError(
                f"normalise {self.normalise!r} is not one of {', '.join(NORMALISATIONS)}",
                location="normalise",
            )
        if self.denoise not in DENOISING:
            raise ConfigError(
                f"denoise {self.denoise!r} is not one of {', '.join(DENOISING)}", location="denoise"
            )
        if self.k is not None and self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}", location="k")
        if self.k_max < 2:
            raise ConfigError(f"k_max must be at least 2, got {self.k_max}", location="k_max")
        if not np.isfinite(self.distance_threshold) or self.distance_threshold <= 0:
            raise ConfigError("distance_threshold must be a positive number", location="distance")
        tiny = self.tiny_cluster
        if isinstance(tiny, bool) or tiny < 0 or (isinstance(tiny, float) and tiny >= 1):
            raise ConfigError(
                "tiny_cluster must be a number of days (int >= 0) or a share in [0, 1)",
                location="tiny_cluster",
            )
        if self.n_init < 1:
            raise ConfigError("n_init must be at least 1", location="n_init")
        try:
            return pywt.Wavelet(self.wavelet)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"wavelet {self.wavelet!r} is not a discrete wavelet PyWavelets knows "
                f"(e.g. haar, db2, db4, sym5, coif1)",
                location="wavelet",
            ) from exc

    def _resolve_level(self, wavelet: pywt.Wavelet, per_day: int) -> int:
        top = int(pywt.dwt_max_level(per_day, wavelet.dec_len))
        if top < 1:
            raise ConfigError(
                f"{per_day} buckets per day are too few for a {wavelet.name} decomposition; "
                "use a finer interval or a shorter wavelet",
                location="level",
            )
        if self.level is None:
            return top
        if not 1 <= self.level <= top:
            raise ConfigError(
                f"level must be between 1 and {top} for {per_day} buckets per day with "
                f"{wavelet.name}, got {self.level}",
                location="level",
            )
        return int(self.level)

    def _tiny_size(self, n_days: int) -> int:
        if isinstance(self.tiny_cluster, float):
            return max(1, int(self.tiny_cluster * n_days)) if self.tiny_cluster > 0 else 0
        return int(self.tiny_cluster)

    # ----------------------------------------------------------------- features

    def _normalised(self, counts: FloatArray) -> FloatArray:
        if self.normalise == "sqrt":
            return np.sign(counts) * np.sqrt(np.abs(counts))
        if self.normalise == "total":
            mean = counts.mean(axis=1, keepdims=True)
            safe = np.where(mean != 0, mean, 1.0)
            return np.asarray(np.where(mean != 0, counts / safe, 0.0), dtype=np.float64)
        return counts

    def _decompose(self, shaped: FloatArray) -> list[FloatArray]:
        blocks = pywt.wavedec(
            shaped, self.wavelet_, mode="periodization", level=self.level_, axis=1
        )
        blocks = [np.asarray(b, dtype=np.float64) for b in blocks]
        if self.denoise != "none" and self.threshold_ > 0:
            blocks[1:] = [pywt.threshold(b, self.threshold_, mode=self.denoise) for b in blocks[1:]]
        return blocks

    def _features(self, shaped: FloatArray, blocks: list[FloatArray]) -> FloatArray:
        if self.variant == "raw":
            chosen = [shaped]
        elif self.variant == "cA":
            chosen = blocks[:1]
        elif self.variant == "cD":
            chosen = blocks[1:]
        else:
            chosen = blocks
        parts: list[FloatArray] = []
        if self.features in ("coefficients", "both"):
            parts.extend(chosen)
        if self.features in ("energy", "both"):
            parts.append(np.stack([np.linalg.norm(b, axis=1) for b in chosen], axis=1))
        return np.hstack(parts)

    # ----------------------------------------------------------------- fit

    def fit(self, history: Series) -> WaveletDayClusters:
        """Learn the normal day shapes of ``history``.

        Args:
            history: a series with at least ``min_days`` whole UTC days.

        Returns:
            self, with ``elbow_`` (k → inertia), ``silhouette_`` (k → score), ``k_``,
            ``centroids_``, the training days' ``days_``, ``labels_``, ``distances_``,
            ``scores_`` and ``abnormal_``.

        Raises:
            ConfigError: a parameter is invalid (unknown wavelet, level out of range, …).
            NotEnoughDaysError: fewer than ``min_days`` whole days, or fewer than ``k + 1``.
        """
        self.wavelet_ = self._check_params()
        matrix = day_matrix(history)
        whole = matrix.whole
        self.interval_ = matrix.interval
        self.buckets_per_day_ = matrix.buckets_per_day
        self.level_ = self._resolve_level(self.wavelet_, self.buckets_per_day_)
        self.skipped_days_ = matrix.days[~whole]
        n_days = int(whole.sum())
        needed = max(self.min_days, 3, (self.k or 0) + 1)
        if n_days < needed:
            k = self.k
            why = f" (k={k} clusters need more than k days)" if k and needed == k + 1 else ""
            raise NotEnoughDaysError(
                f"{n_days} whole days of history, {needed} needed to cluster days{why}",
                location=history.name,
            )
        counts = matrix.filled()[whole]
        shaped = self._normalised(counts)
        self.threshold_ = 0.0
        self.noise_sigma_ = self._noise_sigma(shaped)
        if self.denoise != "none":
            self.threshold_ = self.noise_sigma_ * float(
                np.sqrt(2.0 * np.log(self.buckets_per_day_))
            )
        blocks = self._decompose(shaped)
        features = self._features(shaped, blocks)
        self._cluster(features)
        self._layout = _Layout.of([b.shape[1] for b in blocks], self.level_, self.buckets_per_day_)

        # Training days scored like any other series, so the reference set is consistent.
        self.center_ = 0.0
        self.scale_ = 1.0
        distance, nearest, tiny = self._distances(features)
        normal_rows = ~tiny
        center = float(np.median(distance[normal_rows]))
        mad = float(np.median(np.abs(distance[normal_rows] - center)))
        # Identical days give a zero spread; any difference from them is then far.
        floor = 1e-9 * (1.0 + float(np.max(np.abs(features))))
        self.center_ = center
        self.scale_ = max(_MAD_TO_SIGMA * mad, floor)
        self.days_ = matrix.days[whole]
        self.weekdays_ = matrix.weekdays[whole]
        self.labels_ = nearest
        self.distances_ = distance
        self.scores_ = (distance - self.center_) / self.scale_
        self.tiny_ = tiny
        self.abnormal_ = (self.scores_ >= self.distance_threshold) | tiny
        self._train_counts = counts
        self._train_features = features
        self._train_coefficients = np.hstack(blocks)
        return self

    def _noise_sigma(self, shaped: FloatArray) -> float:
        finest = pywt.wavedec(shaped, self.wavelet_, mode="periodization", level=1, axis=1)[1]
        # Median absolute deviation of the finest details: noise, barely touched by structure.
        per_day = np.median(np.abs(finest), axis=1) / 0.6745
        return float(np.median(per_day))

    def _cluster_once(self, features: FloatArray) -> KMeansResult:
        selection = choose_k(
            features, min(self.k_max, len(features) - 1), seed=self.seed, n_init=self.n_init
        )
        self.elbow_: dict[int, float] = selection.elbow
        self.silhouette_: dict[int, float] = selection.silhouette
        self.elbow_k_ = selection.elbow_k
        if self.k is None:
            return selection.results[selection.k]
        if self.k in selection.results:
            return selection.results[self.k]
        return kmeans(features, self.k, seed=self.seed, n_init=self.n_init)

    def _cluster(self, features: FloatArray) -> None:
        n_days = len(features)
        self.tiny_size_ = self._tiny_size(n_days)
        rows = np.arange(n_days)
        peeled_centres: list[FloatArray] = []
        peeled_sizes: list[IntArray] = []
        for round_ in range(_MAX_PEELS + 1):
            result = self._cluster_once(features[rows])
            sizes = result.sizes
            tiny = (sizes <= self.tiny_size_) & (sizes > 0)
            peel = tiny[result.labels]
            if (
                self.k is not None
                or round_ == _MAX_PEELS
                or not tiny.any()
                or len(rows) - int(peel.sum()) < max(3, self.tiny_size_ + 1)
            ):
                break
            # Far-off days in small clusters of their own would otherwise decide k (one
            # outlier makes weekdays and weekends look alike) and blur the normal clusters:
            # set them aside as tiny clusters and cluster the remaining days again.
            peeled_centres.append(result.centroids[tiny])
            peeled_sizes.append(sizes[tiny])
            rows = rows[~peel]
        keep = sizes > 0  # repeated days can leave a cluster empty; it describes nothing
        final_sizes = sizes[keep]
        normal = final_sizes > self.tiny_size_
        if not normal.any():
            normal = final_sizes == final_sizes.max()
        self.centroids_ = np.vstack([result.centroids[keep], *peeled_centres])
        self.cluster_sizes_ = np.concatenate([final_sizes, *peeled_sizes]).astype(np.intp)
        self.normal_clusters_ = np.concatenate(
            [normal, np.zeros(len(self.centroids_) - len(normal), dtype=np.bool_)]
        )
        self.k_ = int(keep.sum())
        self.peeled_days_ = n_days - len(rows)

    def _distances(self, features: FloatArray) -> tuple[FloatArray, IntArray, BoolArray]:
        nearest, _ = assign(features, self.centroids_)
        d2 = squared_distances(features, self.centroids_[self.normal_clusters_])
        distance = np.sqrt(d2.min(axis=1))
        return distance, nearest, ~self.normal_clusters_[nearest]

    # ----------------------------------------------------------------- score

    def _require_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise LoglensError(f"{self.name} is not fitted; call fit(history) first")

    def day_scores(self, series: Series) -> DayScores:
        """Score each whole UTC day of ``series`` against the learned day shapes.

        Raises:
            ConfigError: the series' interval differs from the training series'.
        """
        self._require_fitted()
        matrix = day_matrix(series, self.interval_ if len(series.buckets) < 2 else None)
        if matrix.interval != self.interval_:
            raise ConfigError(
                f"the series has {matrix.interval} buckets, the detector was fitted on "
                f"{self.interval_}",
                location="interval",
            )
        rows = np.flatnonzero(matrix.whole).astype(np.intp)
        counts = matrix.filled()[rows]
        shaped = self._normalised(counts)
        if len(rows):
            blocks = self._decompose(shaped)
            features = self._features(shaped, blocks)
            coefficients = np.hstack(blocks)
        else:
            features = np.zeros((0, self._train_features.shape[1]))
            coefficients = np.zeros((0, self._train_coefficients.shape[1]))
        distance, nearest, tiny = (
            self._distances(features)
            if len(rows)
            else (np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.bool_))
        )
        score = (distance - self.center_) / self.scale_
        return DayScores(
            days=matrix.days[rows],
            rows=rows,
            distance=distance,
            score=score,
            cluster=nearest,
            tiny=tiny,
            abnormal=(score >= self.distance_threshold) | tiny,
            silent_buckets=matrix.silent[rows].sum(axis=1).astype(np.intp),
            features=features,
            coefficients=coefficients,
            counts=counts,
        )

    def score(self, series: Series) -> FloatArray:
        """One score per bucket: the robust z of its day's distance (NaN outside whole days)."""
        scores = self.day_scores(series)
        buckets = np.asarray(series.buckets).astype("datetime64[us]").astype(np.int64)
        out = np.full(len(buckets), np.nan)
        if len(scores.days) == 0:
            return out
        day_of_bucket = (buckets // _DAY_US).astype("datetime64[D]")
        position = np.searchsorted(scores.days, day_of_bucket)
        position = np.minimum(position, len(scores.days) - 1)
        hit = scores.days[position] == day_of_bucket
        out[hit] = scores.score[position[hit]]
        return out

    # ----------------------------------------------------------------- detect

    def detect(self, series: Series) -> list[Anomaly]:
        """One ``day_shape`` anomaly per abnormal whole day, explained by level and time window."""
        scores = self.day_scores(series)
        weekdays = ((scores.days.astype(np.int64) + 3) % 7).astype(np.intp)
        normal_train = ~self.abnormal_
        if not normal_train.any():  # only possible with a very strict threshold
            normal_train = ~self.tiny_
        found: list[Anomaly] = []
        for i in np.flatnonzero(scores.abnormal):
            found.append(self._explain(series, scores, int(i), int(weekdays[i]), normal_train))
        return found

    def _reference(
        self, features: FloatArray, day: np.datetime64, weekday: int, normal: BoolArray
    ) -> int:
        candidates = normal & (self.days_ != day)
        same = candidates & (self.weekdays_ == weekday)
        pool = same if same.any() else candidates
        if not pool.any():
            pool = self.days_ != day
        idx = np.flatnonzero(pool)
        d2 = np.sum((self._train_features[idx] - features) ** 2, axis=1)
        return int(idx[int(np.argmin(d2))])

    def _explain(
        self,
        series: Series,
        scores: DayScores,
        i: int,
        weekday: int,
        normal_train: BoolArray,
    ) -> Anomaly:
        day = scores.days[i]
        ref = self._reference(scores.features[i], day, weekday, normal_train)
        delta = scores.coefficients[i] - self._train_coefficients[ref]
        # With an orthonormal transform |Δ|² is the share of the difference's energy a single
        # coefficient carries, so the largest one is the level and window that differ most.
        top = int(np.argmax(np.abs(delta)))
        layout = self._layout
        level = int(layout.level[top])
        is_detail = bool(layout.detail[top])
        first, stop = int(layout.start[top]), int(layout.stop[top])
        observed = float(scores.counts[i, first:stop].sum())
        expected = float(self._train_counts[ref, first:stop].sum())
        day_start = _day_start(day)
        window_start = day_start + first * self.interval_
        window_end = day_start + stop * self.interval_
        span = _duration_text(self.interval_ * 2**level)
        part = "detail" if is_detail else "approximation"
        structure = "structure" if is_detail else "average"
        ref_day = self.days_[ref]
        same_weekday = int(self.weekdays_[ref]) == weekday
        ref_text = (
            f"the nearest normal {_WEEKDAYS[weekday]} ({ref_day})"
            if same_weekday
            else f"the nearest normal day ({ref_day}, a {_WEEKDAYS[int(self.weekdays_[ref])]})"
        )
        why = (
            f"in a tiny cluster of {int(self.cluster_sizes_[scores.cluster[i]])} day(s), "
            f"robust z {scores.score[i]:.1f} from the nearest normal cluster"
            if scores.tiny[i]
            else f"far from the nearest normal cluster (robust z {scores.score[i]:.1f})"
        )
        explanation = (
            f"{day} ({_WEEKDAYS[weekday]}) has an unusual daily shape, {why}. It differs most "
            f"from {ref_text} at level {level} {part}, i.e. {span} {structure}, in "
            f"{_clock(window_start - day_start)}–{_clock(window_end - day_start)} UTC: "
            f"{_number(observed)} observed vs {_number(expected)} expected."
        )
        silent = int(scores.silent_buckets[i])
        if silent:
            explanation += f" {silent} silent bucket(s) of the day were counted as 0."
        z = float(scores.score[i])
        details: dict[str, Any] = {
            "day": str(day),
            "weekday": _WEEKDAYS[weekday],
            "level": level,
            "component": part,
            "window_start": window_start,
            "window_end": window_end,
            "window_observed": observed,
            "window_expected": expected,
            "reference_day": str(ref_day),
            "distance": float(scores.distance[i]),
            "cluster": int(scores.cluster[i]),
            "cluster_size": int(self.cluster_sizes_[scores.cluster[i]]),
            "tiny_cluster": bool(scores.tiny[i]),
            "silent_buckets": silent,
            "wavelet": self.wavelet_.name,
            "variant": self.variant,
        }
        return Anomaly(
            series_key=series.key,
            series_name=series.name,
            start=day_start,
            end=day_start + timedelta(days=1),
            detector=self.name,
            score=z,
            severity=severity_for(z),
            observed=float(scores.counts[i].sum()),
            expected=float(self._train_counts[ref].sum()),
            explanation=explanation,
            kind="day_shape",
            reasons=[f"{self.name}: {part} level {level}, {why}"],
            details=details,
        )
