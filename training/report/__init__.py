"""Model validation report: the evidence a validator reads before a model is used.

``assemble`` gathers the figures of one training run (discrimination, calibration per
grade, stability, segments, monotonicity, TreeSHAP, champion and points-only comparison),
``charts`` draws them as PNG images, ``render`` writes one self-contained HTML file, and
``reference`` stores the training distributions that ``jifen monitor`` compares live
traffic with. Texts that explain each test live in ``report.yaml``.
"""
