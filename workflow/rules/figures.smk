rule figure:
    """One figure (PDF + PNG) from the aggregated tables; `snakemake results/figures/fig2b.pdf`."""
    input:
        curves=f"{RES}/curves.parquet",
        probe=f"{RES}/probe.parquet",
        selected=lambda wc: f"{RES}/{figure_experiment(wc)}/teacher/selected.json",
        selection=lambda wc: f"{RES}/{figure_experiment(wc)}/teacher/transition.json",
    output:
        pdf=f"{RES}/figures/{{fig}}.pdf",
        png=report(
            f"{RES}/figures/{{fig}}.png",
            caption="../report/figure.rst",
            category=figure_experiment,
            labels={"figure": "{fig}"},
        ),
    log:
        f"{RES}/logs/figures/{{fig}}.log",
    conda:
        ENV
    params:
        caption=lambda wc: CAPTIONS[wc.fig],
        experiment=figure_experiment,
    script:
        "../scripts/figure.py"


rule scaling_figure:
    """Steps to accuracy against width (log-log) for an experiment with a `scaling` CE width sweep."""
    input:
        curves=f"{RES}/curves.parquet",
    output:
        pdf=f"{RES}/figures/scaling_{{exp}}.pdf",
        png=report(
            f"{RES}/figures/scaling_{{exp}}.png",
            caption="../report/scaling.rst",
            category="{exp}",
            labels={"figure": "scaling_{exp}"},
        ),
    log:
        f"{RES}/logs/figures/scaling_{{exp}}.log",
    conda:
        ENV
    script:
        "../scripts/scaling_figure.py"
