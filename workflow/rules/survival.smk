# Steps to accuracy as censored data (progdistill/survival.py): Kaplan-Meier medians with intervals, a
# log-rank test per README claim, and one survival figure per experiment.
rule survival:
    """results/survival.parquet (median steps to 90/95/99% with 95% intervals) and
    results/comparisons.parquet (log-rank tests of the README's claims)."""
    input:
        f"{RES}/curves.parquet",
    output:
        survival=f"{RES}/survival.parquet",
        comparisons=f"{RES}/comparisons.parquet",
    log:
        f"{RES}/logs/survival.log",
    conda:
        ENV
    script:
        "../scripts/survival.py"


rule survival_figure:
    """Fraction of runs at 95% held-out accuracy against steps (Kaplan-Meier), one line per strategy."""
    input:
        curves=f"{RES}/curves.parquet",
    output:
        pdf=f"{RES}/figures/survival_{{exp}}.pdf",
        png=report(
            f"{RES}/figures/survival_{{exp}}.png",
            caption="../report/survival.rst",
            category="{exp}",
            labels={"figure": "survival_{exp}"},
        ),
    log:
        f"{RES}/logs/figures/survival_{{exp}}.log",
    conda:
        ENV
    script:
        "../scripts/survival_figure.py"
