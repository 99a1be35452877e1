# The parity and hierarchical figures the configuration draws, and the experiments they draw.
PAPER_FIGURES = L.paper_figures(config)
FIGURE_EXPS = sorted({config["figures"][L.FIGURES[f].family] for f in PAPER_FIGURES})


if PAPER_FIGURES:

    rule figure:
        """Every figure (PDF + PNG) of the parity and hierarchical families of the registry
        (progdistill.layout.FIGURES) from the aggregated tables, in one job: the tables and the plotting
        libraries load once, where a job per figure cost more to start than to draw. `snakemake
        results/figures/fig2b.pdf` runs it."""
        input:
            curves=L.CURVES,
            probe=L.PROBES,
            selected=[L.SELECTED.format(exp=e) for e in FIGURE_EXPS],
            selection=[L.SELECTION.format(exp=e) for e in FIGURE_EXPS],
        output:
            pdf=[L.FIGURE_PDF.format(fig=f) for f in PAPER_FIGURES],
            png=[
                report(
                    L.FIGURE_PNG.format(fig=f),
                    caption="../report/figure.rst",
                    category=config["figures"][L.FIGURES[f].family],
                    labels={"figure": f},
                )
                for f in PAPER_FIGURES
            ],
        log:
            L.FIGURES_LOG,
        conda:
            ENV
        params:
            figures=PAPER_FIGURES,
            captions={f: L.FIGURES[f].caption for f in PAPER_FIGURES},
            experiments={
                f: config["figures"][L.FIGURES[f].family] for f in PAPER_FIGURES
            },
        script:
            "../scripts/figure.py"


rule scaling_figure:
    """Steps to accuracy against width (log-log) for an experiment with a `scaling` CE width sweep."""
    input:
        curves=L.CURVES,
    output:
        pdf=L.SCALING_PDF,
        png=report(
            L.SCALING_PNG,
            caption="../report/scaling.rst",
            category="{exp}",
            labels={"figure": "scaling_{exp}"},
        ),
    log:
        L.SCALING_LOG,
    conda:
        ENV
    script:
        "../scripts/scaling_figure.py"
