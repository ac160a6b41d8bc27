"""Synthetic signals with known answers (tempo, key, pitch, loudness).

Used by the known-answer tests and by ``bench/analyze.py``; generated, never stored.
"""
