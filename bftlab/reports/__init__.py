"""Run metrics and reports: the recorder of throughput and latency, and the report files and tables.

May import :mod:`bftlab.core` and :mod:`bftlab.api`.
"""
