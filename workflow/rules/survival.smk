# Steps to accuracy as censored data (progdistill/survival.py): Kaplan-Meier medians with intervals, a
# log-rank test per claim of the findings, and one survival figure per experiment.
rule survival:
    """results/survival.parquet (median steps to 90/95/99% with 95% intervals) and
    results/comparisons.parquet (log-rank tests of the findings' claims)."""
    input:
        layout.CURVES,
    output:
        survival=layout.SURVIVAL,
        comparisons=layout.COMPARISONS,
    log:
        layout.SURVIVAL_LOG,
    conda:
        ENV
    script:
        "../scripts/survival.py"


rule survival_figure:
    """Fraction of runs at 95% held-out accuracy against steps (Kaplan-Meier), one line per strategy."""
    input:
        curves=layout.CURVES,
    output:
        pdf=layout.SURVIVAL_PDF,
        png=report(
            layout.SURVIVAL_PNG,
            caption="../report/survival.rst",
            category="{exp}",
            labels={"figure": "survival_{exp}"},
        ),
    log:
        layout.SURVIVAL_FIG_LOG,
    conda:
        ENV
    script:
        "../scripts/survival_figure.py"
