"""Building blocks of the synthetic traffic generator (``loglens.sources.generate``).

The public API lives in :mod:`loglens.sources.generate`; the modules here are internal:
``catalog`` (static realistic vocabularies), ``clock`` (seasonality and time formats),
``population`` (hosts, users, services), ``formats`` (native log writers), one module per
traffic family (``web``, ``auth``, ``network``, ``alerts``) and ``incidents``.
"""
