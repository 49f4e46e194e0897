"""Evaluation: scoring prediction files, metrics and (later) benchmark suites and reports."""
