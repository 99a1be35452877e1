rule figure:
    """One figure (PDF + PNG) from the aggregated tables; `snakemake results/figures/fig2b.pdf`."""
    input:
        curves=f"{RES}/curves.parquet",
        probe=f"{RES}/probe.parquet",
        selected=lambda wc: f"{RES}/{figure_experiment(wc)}/teacher/selected.json",
    output:
        pdf=f"{RES}/figures/{{fig}}.pdf",
        png=f"{RES}/figures/{{fig}}.png",
    log:
        f"{RES}/logs/figures/{{fig}}.log",
    conda:
        ENV
    script:
        "../scripts/figure.py"
