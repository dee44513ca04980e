"""Anomaly detectors over series and events (estimator contract in ``detect.base``)."""
