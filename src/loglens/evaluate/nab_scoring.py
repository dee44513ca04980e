"""The NAB scoring function, written from the description in Lavin & Ahmad (2015), "Evaluating
Real-time Anomaly Detection Algorithms — the Numenta Anomaly Benchmark", and NAB's documentation.

Per data file, a detector's detections (the points where its score reaches the threshold) are
scored against the labelled anomaly windows:

- the first detection inside a window earns ``A_TP·σ(y)/σ(-1)``, where ``y`` is its relative
  position (``-1`` at the window's first point, approaching 0 at its last) and ``σ`` the scaled
  sigmoid below; later detections in the same window earn nothing;
- each window without a detection costs ``A_FN``;
- each detection outside every window costs ``A_FP·σ(y)`` (``σ`` is negative there), ``y`` being
  its distance after the end of the previous window in window lengths; a detection with no window
  before it costs the full ``A_FP``;
- true negatives count nothing (``A_TN = 0``);
- the probationary period, the first 15% of each file (at most 750 points, as NAB caps it), is
  not scored: detections there are ignored, and windows that end inside it are dropped.

The corpus score is normalised as ``100·(S − S_null)/(S_perfect − S_null)``: the null detector
never fires (``S_null = −A_FN`` per window) and the perfect one fires on each window's first point
(``S_perfect = A_TP`` per window). Thresholds are chosen per profile over the whole corpus, as
NAB does, by sweeping every distinct score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab_corpus import Window

PROBATION_PERCENT = 0.15
# NAB caps the probationary period at 15% of 5,000 points so that long files are not mostly
# unscored.
PROBATION_CAP_POINTS = 5000


@dataclass(frozen=True)
class Profile:
    """An application profile: the weights of true positives, false positives and misses."""

    name: str
    tp: float
    fp: float
    fn: float
    tn: float = 0.0


# Weights as in NAB's config/profiles.json (numenta/NAB): standard tp 1.0, fp 0.11, fn 1.0;
# reward_low_FP_rate doubles fp to 0.22; reward_low_FN_rate doubles fn to 2.0. That file also lists
# tnWeight 1.0, but NAB's scorer gives true negatives 0 ("TN are 0"), which is what the paper
# describes too, so A_TN is 0 here.
PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
}
_ALIASES = {"reward_low_fp": "reward_low_FP_rate", "reward_low_fn": "reward_low_FN_rate"}


def get_profile(profile: str | Profile) -> Profile:
    """A profile by NAB name (``standard``, ``reward_low_FP_rate``, ``reward_low_FN_rate``).

    ``reward_low_FP`` and ``reward_low_FN`` are accepted too, in any case.

    Raises:
        EvaluationError: unknown name.
    """
    if isinstance(profile, Profile):
        return profile
    if profile in PROFILES:
        return PROFILES[profile]
    lowered = {name.lower(): name for name in PROFILES}
    key = _ALIASES.get(profile.lower(), lowered.get(profile.lower()))
    if key is None:
        raise EvaluationError(
            f"unknown NAB profile {profile!r}; use one of {', '.join(PROFILES)}",
            location="profile",
        )
    return PROFILES[key]


def scaled_sigmoid(position: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """NAB's scaled sigmoid ``2/(1 + e^(5y)) − 1``, and −1 beyond ``y > 3``.

    ``y = −1`` (a window's start) gives 0.9866, ``y = 0`` (its end) 0, ``y = 1`` −0.9866.
    """
    y = np.asarray(position, dtype=np.float64)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, value)


_MAX_TP = float(scaled_sigmoid(-1.0))


def probation_length(points: int, percent: float = PROBATION_PERCENT) -> int:
    """Number of leading points NAB leaves unscored in a file of ``points`` points."""
    return int(min(math.floor(percent * points), percent * PROBATION_CAP_POINTS))


@dataclass(frozen=True)
class WindowLayout:
    """Where a file's windows lie and what a detection at each point would count.

    Independent of the detector and of the profile, so it is computed once per file.

    Attributes:
        name: the data file.
        points: number of points in the file.
        probation: number of leading, unscored points.
        bounds: the scored windows as inclusive point-index ranges, shape ``(windows, 2)``.
        window_of: per point, the index in ``bounds`` of the window it lies in, −1 outside.
        credit: per point, inside a window the true-positive credit ``σ(y)/σ(−1)`` in (0, 1];
            outside, the false-positive factor ``σ(y)`` in [−1, 0).
        unscored_windows: labelled windows left out: inside the probationary period, or
            holding no point of the file.
    """

    name: str
    points: int
    probation: int
    bounds: NDArray[np.int64]
    window_of: NDArray[np.int64]
    credit: NDArray[np.float64]
    unscored_windows: int = 0

    @property
    def windows(self) -> int:
        """Number of scored windows."""
        return len(self.bounds)


def window_layout(
    timestamps: NDArray[np.datetime64],
    windows: Sequence[Window],
    *,
    name: str = "",
    probation_percent: float = PROBATION_PERCENT,
) -> WindowLayout:
    """Place a file's windows on its points and compute each point's credit.

    Args:
        timestamps: the file's point times, non-decreasing.
        windows: ``(start, end)`` pairs, both inclusive, sorted and not overlapping.
        name: the file's name, carried into scores.
        probation_percent: share of leading points left unscored.
    """
    stamps = np.asarray(timestamps, dtype="datetime64[us]")
    n = len(stamps)
    probation = probation_length(n, probation_percent)
    starts = np.asarray([w[0] for w in windows], dtype="datetime64[us]")
    stops = np.asarray([w[1] for w in windows], dtype="datetime64[us]")
    lows = np.searchsorted(stamps, starts, side="left")
    highs = np.searchsorted(stamps, stops, side="right") - 1
    holds_points = lows <= highs
    bounds = np.stack([lows[holds_points], highs[holds_points]], axis=1).astype(np.int64)
    index = np.arange(n)

    # Outside windows: distance after the previous window's last point, in window lengths
    # (NAB divides by the length minus one; a one-point window counts as one).
    credit = np.full(n, -1.0)
    if len(bounds):
        ends, lengths = bounds[:, 1], bounds[:, 1] - bounds[:, 0] + 1
        previous = np.searchsorted(ends, index, side="left") - 1
        after = previous >= 0
        span = np.maximum(lengths[previous[after]] - 1, 1)
        credit[after] = scaled_sigmoid((index[after] - ends[previous[after]]) / span)

    window_of = np.full(n, -1, dtype=np.int64)
    scored = bounds[bounds[:, 1] >= probation] if len(bounds) else bounds
    for k, (lo, hi) in enumerate(scored):
        inside = index[lo : hi + 1]
        window_of[lo : hi + 1] = k
        credit[lo : hi + 1] = scaled_sigmoid(-(hi - inside + 1) / (hi - lo + 1)) / _MAX_TP
    return WindowLayout(
        name=name,
        points=n,
        probation=probation,
        bounds=scored,
        window_of=window_of,
        credit=credit,
        unscored_windows=len(windows) - len(scored),
    )


@dataclass(frozen=True)
class FileScore:
    """One file's NAB score at one threshold and profile.

    ``raw`` is the sum of the weighted credits; ``null`` and ``perfect`` are what the null and
    perfect detectors score on the same file. Counts are of windows (``detected``, ``missed``)
    and of detections after the probationary period (``false_positives`` outside windows).
    """

    name: str
    raw: float
    null: float
    perfect: float
    windows: int
    detected: int
    missed: int
    false_positives: int
    detections: int

    @property
    def normalized(self) -> float | None:
        """``100·(raw − null)/(perfect − null)``; None for a file without scored windows."""
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span > 0 else None


def score_detections(
    layout: WindowLayout, detections: NDArray[np.bool_], profile: str | Profile = "standard"
) -> FileScore:
    """Score a file's detections (one bool per point) with a profile.

    Raises:
        EvaluationError: ``detections`` does not have one value per point.
    """
    weights = get_profile(profile)
    fired = np.asarray(detections, dtype=bool)
    if fired.shape != (layout.points,):
        raise EvaluationError(
            f"{layout.name or 'file'}: {fired.size} detections for {layout.points} points"
        )
    fired = fired.copy()
    fired[: layout.probation] = False
    outside = fired & (layout.window_of < 0)
    raw = weights.fp * float(layout.credit[outside].sum())
    detected = 0
    for lo, hi in layout.bounds:
        hits = np.flatnonzero(fired[lo : hi + 1])
        if hits.size:
            detected += 1
            raw += weights.tp * float(layout.credit[lo + hits[0]])  # the first one counts
        else:
            raw -= weights.fn
    return FileScore(
        name=layout.name,
        raw=raw,
        null=-weights.fn * layout.windows,
        perfect=weights.tp * layout.windows,
        windows=layout.windows,
        detected=detected,
        missed=layout.windows - detected,
        false_positives=int(outside.sum()),
        detections=int(fired.sum()),
    )


def score_file(
    layout: WindowLayout,
    scores: NDArray[np.float64],
    threshold: float,
    profile: str | Profile = "standard",
) -> FileScore:
    """Score a file from anomaly scores: a detection wherever ``score >= threshold`` (NaN never
    fires)."""
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return score_detections(layout, values >= threshold, profile)


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold that maximises the corpus's raw score for a profile.

    ``threshold`` fires on ``score >= threshold``; when not firing at all is best it lies just
    above the highest score. ``raw``, ``null`` and ``perfect`` are corpus sums.
    """

    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalized(self) -> float | None:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span > 0 else None


def optimise_threshold(
    files: Sequence[tuple[WindowLayout, NDArray[np.float64]]],
    profile: str | Profile = "standard",
) -> ThresholdChoice:
    """Find the threshold with the best corpus score by sweeping every distinct score.

    Points are visited from the highest score down; each one changes the corpus score by its
    false-positive cost, or, inside a window, by how much it raises the best credit in its window
    (the first point reached in a window also cancels that window's miss). The running total
    after the last point of each distinct score is the corpus score at that threshold. Ties go
    to the higher threshold (fewer detections).

    Args:
        files: ``(layout, scores)`` per file, one score per point (NaN never fires).
        profile: the application profile.
    """
    weights = get_profile(profile)
    scores_parts, window_parts, credit_parts = [], [], []
    offset = 0
    for layout, scores in files:
        values = np.asarray(scores, dtype=np.float64)
        if values.shape != (layout.points,):
            raise EvaluationError(
                f"{layout.name or 'file'}: {values.size} scores for {layout.points} points"
            )
        keep = np.isfinite(values)
        keep[: layout.probation] = False
        window = layout.window_of[keep]
        scores_parts.append(values[keep])
        window_parts.append(np.where(window >= 0, window + offset, -1))
        credit_parts.append(layout.credit[keep])
        offset += layout.windows
    null, perfect = -weights.fn * offset, weights.tp * offset
    score = np.concatenate(scores_parts) if scores_parts else np.empty(0)
    window = np.concatenate(window_parts) if window_parts else np.empty(0, dtype=np.int64)
    credit = np.concatenate(credit_parts) if credit_parts else np.empty(0)

    order = np.argsort(-score, kind="stable")
    score, window, credit = score[order], window[order], credit[order]
    delta = np.where(window < 0, weights.fp * credit, 0.0)
    inside = np.flatnonzero(window >= 0)
    if inside.size:
        # Group the in-window points by window, keeping score order within each group; credits
        # lie in (0, 1], so lifting group g by 2g lets one running maximum serve every group.
        grouped = inside[np.argsort(window[inside], kind="stable")]
        ids, cred = window[grouped], credit[grouped]
        lift = 2.0 * ids
        best = np.maximum.accumulate(cred + lift) - lift
        first = np.r_[True, ids[1:] != ids[:-1]]
        before = np.r_[0.0, best[:-1]]
        delta[grouped] = np.where(
            first, weights.tp * best + weights.fn, weights.tp * (best - before)
        )
    totals = null + np.cumsum(delta)

    last_of_level = np.r_[score[1:] != score[:-1], True] if score.size else np.empty(0, bool)
    top = float(score[0]) if score.size else 1.0
    candidates = np.r_[np.nextafter(max(top, 1.0), np.inf), score[last_of_level]]
    results = np.r_[null, totals[last_of_level]]
    chosen = int(np.argmax(results >= results.max() - 1e-9))
    return ThresholdChoice(float(candidates[chosen]), float(results[chosen]), null, perfect)
