"""Benchmarks of activegan, run from the repository root as ``python -m benchmarks.<name>``.

``speed``, ``poster``, ``gal`` and ``gan_loop`` measure; ``gan_report`` writes the DCGAN
results page; ``index`` writes the results index and the headline table; ``regenerate``
rewrites every report from what is committed under ``docs/results/``. Shared code:
``reporting`` (machine, run log, Markdown, statistics) and ``experiments`` (the resumable
experiment benchmarks and their one command-line entry point).
"""
