"""Benchmark harness: CRM figures beside raw ceilings measured in the same run.

Run ``python -m bench`` (or ``make bench``); see bench/README.md. Not part of
the test suite: it prints a table and writes bench/results/<timestamp>.json.
"""
