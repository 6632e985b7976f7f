"""Decision reports: one recorded decision explained for a credit officer or an auditor.

``decision`` assembles what the audit record, the model's bundle, the feature definitions
and the policy say about a decision; ``charts`` draws the waterfall of its reasons;
``document`` renders the HTML (and PDF through WeasyPrint, with Noto Sans CJK SC).
Labels and section texts live in ``report.yaml``.
"""
