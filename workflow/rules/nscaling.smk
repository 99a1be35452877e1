# How steps grow with n (the nscaling section, progdistill/nscaling.py): its experiments run through every
# ordinary rule; these two read the aggregated curves and the experiments' checkpoint selections. Runs only
# with an `nscaling` section (layout.all_targets).
NSCALING_EXPS = STUDY.nscaling.experiment_names if STUDY.nscaling else []


rule nscaling_table:
    """Steps to 95% against n per strategy as censored data: results/nscaling/slopes.parquet (fitted
    exponents), medians.parquet (Kaplan-Meier per n), tests.parquet (slope differences, curvature).
    """
    input:
        curves=layout.CURVES,
        selections=[layout.CHECKPOINT_SELECTION.format(exp=e) for e in NSCALING_EXPS],
    output:
        slopes=layout.NSCALING_SLOPES,
        medians=layout.NSCALING_MEDIANS,
        tests=layout.NSCALING_TESTS,
        md=layout.NSCALING_MD,
    log:
        layout.NSCALING_LOG,
    conda:
        ENV
    script:
        "../scripts/nscaling_table.py"


rule nscaling_figure:
    """Steps to 95% against n on log-log axes with the fitted exponents and the reference slopes."""
    input:
        slopes=layout.NSCALING_SLOPES,
        medians=layout.NSCALING_MEDIANS,
    output:
        pdf=layout.NSCALING_PDF,
        png=report(
            layout.NSCALING_PNG,
            caption="../report/nscaling.rst",
            category="nscaling",
            labels={"figure": "steps against n"},
        ),
    log:
        layout.NSCALING_FIG_LOG,
    conda:
        ENV
    script:
        "../scripts/nscaling_figure.py"
